"""ASGI entry point: HTTP and WebSockets.

In ``make run`` daphne serves both. In production daphne serves only ``/ws/`` (nginx sends
the rest to gunicorn), because sync views under ASGI were measured about 8x slower.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "virtualiop.settings")

# Build the Django ASGI app first: it sets up the app registry that routing imports need.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from apps.core.runtime import settle_garbage_collector  # noqa: E402
from virtualiop.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

# Everything loaded so far lives as long as the process: out of the garbage collector's
# sight, and full collections made rare (apps/core/runtime.py; they stalled every socket).
settle_garbage_collector()
