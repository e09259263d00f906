"""WebSocket URL patterns, gathered from every local app's ``routing.py``.

Each app owns its own patterns (``websocket_urlpatterns``); this module only joins them,
so adding a consumer never means editing a shared file.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from typing import Any

from django.apps import apps

websocket_urlpatterns: list[Any] = []

for _config in apps.get_app_configs():
    if not _config.name.startswith("apps."):
        continue
    _module_name = f"{_config.name}.routing"
    if find_spec(_module_name) is not None:
        websocket_urlpatterns += import_module(_module_name).websocket_urlpatterns
