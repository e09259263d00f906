"""URL configuration. Each app owns its own ``urls.py``; they are mounted here."""

from __future__ import annotations

from importlib.util import find_spec

from django.contrib import admin
from django.urls import include, path

from apps.accounts.admin_site import configure_admin_site
from apps.enrollment import crisis

configure_admin_site()

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("accounts/", include("apps.accounts.urls")),
    path("", include("apps.core.urls")),
    path("crisis/", crisis.crisis, name="crisis"),
    path("crisis/saved/", crisis.crisis_saved, name="crisis_saved"),
    path("crisis/sw.js", crisis.crisis_service_worker, name="crisis_sw"),
]

# Apps mount under their own prefix when they have URLs (apps/<name>/urls.py).
for _name, _prefix in [
    ("enrollment", "enrollment/"),
    ("measures", "measures/"),
    ("scheduling", "schedule/"),
    ("rooms", "rooms/"),
    ("homework", "homework/"),
    ("progress", "progress/"),
    ("notifications", "notifications/"),
    ("video", "video/"),
    ("charting", "charting/"),
    ("billing", "billing/"),
    ("diagnoses", "diagnoses/"),
    ("programs", "programs/"),
    ("messaging", "messages/"),
    ("casemanagement", "case-management/"),
    ("medications", "medications/"),
    ("disclosures", "disclosures/"),
]:
    if find_spec(f"apps.{_name}.urls") is not None:
        urlpatterns.append(path(_prefix, include(f"apps.{_name}.urls")))

# A statement or lock timeout is a 503 "busy" page, anything else Django's 500.
handler500 = "apps.core.busy.server_error"
