"""WSGI entry point: in production gunicorn serves every HTTP request through this."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "virtualiop.settings")

application = get_wsgi_application()

from apps.core.runtime import settle_garbage_collector  # noqa: E402

# As in asgi.py: what is loaded lives as long as the worker (apps/core/runtime.py).
settle_garbage_collector()
