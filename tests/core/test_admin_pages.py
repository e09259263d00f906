"""Every admin page an administrator can open answers without a server error, on the demo
data: each registered model's list, its add form and one row's change form (read-only for
signed records)."""

from __future__ import annotations

import io

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import NoReverseMatch, reverse

pytestmark = pytest.mark.django_db


def test_every_admin_page_opens_on_the_demo_data(client, login):
    call_command("seed_demo", stdout=io.StringIO())
    from apps.accounts.models import User

    login(client, User.objects.get(email="admin@demo.test"))
    failures = []
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        try:
            urls = [reverse("admin:{}_{}_changelist".format(*info))]
        except NoReverseMatch:
            continue
        urls.append(reverse("admin:{}_{}_add".format(*info)))
        row = model._default_manager.order_by("pk").first()
        if row is not None:
            urls.append(reverse("admin:{}_{}_change".format(*info), args=[row.pk]))
        for url in urls:
            status = client.get(url).status_code
            if status >= 500:
                failures.append(f"{url}: {status}")
    assert failures == []
