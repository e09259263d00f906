"""Admins add a module version as JSON: validated by the same schema; stored versions are
read-only."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from apps.homework.models import ModuleVersion

pytestmark = pytest.mark.django_db


def _content(modules, **overrides):
    content = dict(modules["stress-diary"].current_version.content)
    content.update(overrides)
    return json.dumps(content)


def test_admin_adds_a_new_version(client, login, admin, modules):
    login(client, admin)
    url = reverse("admin:homework_moduleversion_add")
    response = client.post(url, {"content": _content(modules, version=2, title="Stress diary 2")})
    assert response.status_code == 302, response.content.decode()[:500]
    module = modules["stress-diary"]
    module.refresh_from_db()
    assert module.current_version.version == 2 and module.title == "Stress diary 2"


def test_admin_malformed_version_names_the_field(client, login, admin, modules):
    login(client, admin)
    url = reverse("admin:homework_moduleversion_add")
    response = client.post(url, {"content": _content(modules, version=2, estimated_minutes=-1)})
    assert response.status_code == 200
    assert "estimated_minutes" in response.content.decode()
    assert not ModuleVersion.objects.filter(version=2).exists()


def test_admin_cannot_change_a_stored_version(client, login, admin, modules):
    login(client, admin)
    version = modules["stress-diary"].current_version
    url = reverse("admin:homework_moduleversion_change", args=[version.pk])
    client.post(url, {"content": _content(modules, summary="rewritten")})
    version.refresh_from_db()
    assert version.content["summary"] != "rewritten"


def test_admin_reusing_a_version_number_is_refused_not_500(client, login, admin, modules):
    login(client, admin)
    url = reverse("admin:homework_moduleversion_add")
    response = client.post(url, {"content": _content(modules, summary="Same number, new text.")})
    assert response.status_code == 200
    assert "already has version 1" in response.content.decode()
    assert ModuleVersion.objects.filter(module=modules["stress-diary"]).count() == 1
