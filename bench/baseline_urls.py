"""The project's URLs plus ``/bench/baseline/``: a one-query Django view, the yardstick the
page benchmarks are measured against (same server, same middleware, same database)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.urls import path

from virtualiop.urls import urlpatterns as project_urlpatterns


def baseline(request: HttpRequest) -> HttpResponse:
    """One query, a tiny body: what any page costs at the least."""
    count = get_user_model().objects.filter(pk__gt=0).count()
    return HttpResponse(f"ok {count}\n", content_type="text/plain")


urlpatterns = [path("bench/baseline/", baseline, name="bench_baseline"), *project_urlpatterns]
