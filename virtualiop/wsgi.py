"""WSGI entry point: in production gunicorn serves every HTTP request through this."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "virtualiop.settings")

application = get_wsgi_application()
