"""WSGI entry point: in production gunicorn serves every HTTP request through this."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "virtualiop.settings")

application = get_wsgi_application()

# As in asgi.py: everything loaded so far lives as long as the worker; keep it out of the
# cyclic garbage collector's full passes (CPython's gc.freeze, as its docs advise for servers).
gc.freeze()
