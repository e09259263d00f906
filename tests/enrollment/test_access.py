"""Every enrollment and measures view refuses the outsider patient, the other program's
clinician and an anonymous visitor, and never shows them the member's data."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def urls(w, patient):
    app = w.application.pk
    return {
        # patient-only steps of the member's own application
        "apply_resume": ("get", reverse("enrollment:apply_resume", args=[app]), "patient"),
        "apply_details": ("get", reverse("enrollment:apply_details", args=[app]), "patient"),
        "apply_screening": ("get", reverse("enrollment:apply_screening", args=[app]), "patient"),
        "apply_measure": (
            "get",
            reverse("enrollment:apply_measure", args=[app, "phq9"]),
            "patient",
        ),
        "apply_support": ("get", reverse("enrollment:apply_support", args=[app]), "patient"),
        "apply_insurance": ("get", reverse("enrollment:apply_insurance", args=[app]), "patient"),
        "apply_intake": ("get", reverse("enrollment:apply_intake", args=[app]), "patient"),
        "apply_withdraw": ("post", reverse("enrollment:apply_withdraw", args=[app]), "patient"),
        "signature": ("get", reverse("enrollment:signature_detail", args=[w.signature.pk]), "any"),
        "signature_dl": (
            "get",
            reverse("enrollment:signature_detail", args=[w.signature.pk]) + "?download=1",
            "any",
        ),
        "card": ("get", reverse("enrollment:insurance_card", args=[app, "front"]), "any"),
        "detail": ("get", reverse("enrollment:application_detail", args=[app]), "staff"),
        "decide": ("post", reverse("enrollment:application_decide", args=[app, "refer"]), "staff"),
        "discharge": ("get", reverse("enrollment:discharge", args=[app]), "staff"),
        "summary": (
            "get",
            reverse("enrollment:discharge_summary", args=[w.discharged.pk]),
            "any",
        ),
        "tplan": ("get", reverse("enrollment:patient_treatment_plan", args=[patient.pk]), "any"),
        "tplan_post": (
            "post",
            reverse("enrollment:patient_treatment_plan", args=[patient.pk]),
            "any",
        ),
        "splan": ("get", reverse("enrollment:patient_safety_plan", args=[patient.pk]), "any"),
        "splan_post": (
            "post",
            reverse("enrollment:patient_safety_plan", args=[patient.pk]),
            "any",
        ),
        "flag": ("get", reverse("measures:flag_detail", args=[w.flag.pk]), "staff"),
        "flag_post": ("post", reverse("measures:flag_detail", args=[w.flag.pk]), "staff"),
    }


NAMES = [
    "apply_resume", "apply_details", "apply_screening", "apply_measure", "apply_support",
    "apply_insurance", "apply_intake", "apply_withdraw", "signature", "signature_dl", "card",
    "detail", "decide", "discharge", "summary", "tplan", "tplan_post", "splan", "splan_post",
    "flag", "flag_post",
]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("who", ["outsider", "other_clinician"])
def test_outsiders_are_refused_with_404(client, login, world, patient, name, who, request):
    method, url, _kind = urls(world, patient)[name]
    login(client, request.getfixturevalue(who))
    response = getattr(client, method)(url, {"reason": "x", "note": "x", "warning_signs": "x"})
    assert response.status_code == 404
    # and nothing changed
    world.application.refresh_from_db()
    assert world.application.status == "admitted"
    world.flag.refresh_from_db()
    assert world.flag.is_open


@pytest.mark.parametrize("name", NAMES)
def test_anonymous_is_sent_to_sign_in(client, world, patient, name):
    method, url, _kind = urls(world, patient)[name]
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.parametrize("name", NAMES)
def test_the_member_and_their_clinician_get_in(client, login, world, patient, clinician, name):
    method, url, kind = urls(world, patient)[name]
    if method == "post":
        return  # covered by the behaviour tests
    if kind in ("patient", "any"):
        who = world.alumnus if name == "summary" else patient
        response = login(client, who).get(url)
        assert response.status_code in (200, 302), name
        client.logout()
    if kind in ("staff", "any"):
        response = login(client, clinician).get(url)
        assert response.status_code in (200, 302), name


def test_member_patient_cannot_open_clinician_pages(client, login, world, patient):
    login(client, patient)
    for name in ("detail", "discharge", "flag"):
        _m, url, _k = urls(world, patient)[name]
        assert client.get(url).status_code == 404
    assert client.get(reverse("enrollment:queue")).status_code == 404
    assert client.get(reverse("measures:flags")).status_code == 404


@pytest.mark.parametrize(
    "url_name",
    ["enrollment:my_application", "enrollment:consents", "enrollment:treatment_plan",
     "enrollment:safety_plan", "crisis"],
)  # fmt: skip
def test_self_pages_show_the_outsider_only_their_own_records(
    client, login, world, outsider, url_name
):
    response = login(client, outsider).get(reverse(url_name))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Member problem text" not in body and "Member warning signs" not in body
    assert "Pat Member" not in body


@pytest.mark.parametrize("url_name", ["enrollment:queue", "measures:flags"])
def test_lists_show_the_other_clinician_nothing_of_this_program(
    client, login, world, other_clinician, url_name
):
    response = login(client, other_clinician).get(reverse(url_name))
    assert response.status_code == 200
    assert "Pat Member" not in response.content.decode()


@pytest.mark.parametrize(
    "url_name",
    ["enrollment:my_application", "enrollment:consents", "enrollment:treatment_plan",
     "enrollment:safety_plan", "enrollment:queue", "measures:flags", "crisis"],
)  # fmt: skip
def test_self_and_list_pages_need_sign_in(client, url_name):
    response = client.get(reverse(url_name))
    assert response.status_code == 302
