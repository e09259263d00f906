from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.diagnoses.models import Diagnosis, DiagnosisStatus, Rank

pytestmark = pytest.mark.django_db


def _page(patient):
    return reverse("diagnoses:patient", args=[patient.pk])


def _add(patient):
    return reverse("diagnoses:add", args=[patient.pk])


# --- search --------------------------------------------------------------------------------


def test_search_finds_codes_and_words(client, login, clinician):
    login(client, clinician)
    response = client.post(reverse("diagnoses:search"), {"q": "F33"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b'value="F33.1"' in response.content
    response = client.post(reverse("diagnoses:search"), {"q": "major depressive"})
    assert b"F32.0" in response.content and b"Major depressive disorder" in response.content


def test_search_offers_only_billable_codes_to_pick(client, login, clinician):
    login(client, clinician)
    response = client.post(reverse("diagnoses:search"), {"q": "F33"})
    assert b'value="F33"' not in response.content  # the category is listed, not pickable
    assert b"not billable" in response.content


def test_search_is_staff_only(client, login, patient):
    assert client.post(reverse("diagnoses:search"), {"q": "F33"}).status_code == 302
    login(client, patient)
    assert client.post(reverse("diagnoses:search"), {"q": "F33"}).status_code == 404
    assert client.get(reverse("diagnoses:search")).status_code == 405


def test_search_has_a_rate_limit(client, login, clinician, settings, monkeypatch):
    from django.core.cache import cache

    monkeypatch.setattr("apps.diagnoses.views.SEARCH_PER_MINUTE", 2)
    cache.delete(f"dx-search:{clinician.pk}")  # a shared Redis outlives earlier runs
    login(client, clinician)
    codes = [client.post(reverse("diagnoses:search"), {"q": "F3"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


# --- the page and writes -------------------------------------------------------------------


def test_clinician_adds_a_primary_and_sees_it(client, login, clinician, patient):
    login(client, clinician)
    response = client.post(
        _add(patient), {"q": "F33", "code": "F33.1", "rank": "primary", "action": "add"}
    )
    assert response.status_code == 302
    dx = Diagnosis.objects.get(patient=patient)
    assert (dx.code, dx.rank, dx.added_by) == ("F33.1", Rank.PRIMARY, clinician)
    page = client.get(_page(patient))
    assert b"Major depressive disorder, recurrent, moderate" in page.content


@pytest.mark.parametrize("code", ["F33", "F99.99", "XYZ", "", "F33.1'--"])
def test_made_up_or_non_billable_posts_are_refused_with_a_form_error(
    client, login, clinician, patient, code
):
    login(client, clinician)
    response = client.post(_add(patient), {"code": code, "rank": "primary"})
    assert response.status_code == 400
    assert b"errorlist" in response.content
    assert not Diagnosis.objects.exists()


def test_malformed_posts_are_form_errors(client, login, clinician, patient, primary):
    login(client, clinician)
    response = client.post(_add(patient), {"code": "F41.1", "rank": "principal"})
    assert response.status_code == 400
    response = client.post(
        reverse("diagnoses:resolve", args=[primary.pk]), {f"res{primary.pk}-resolved_date": "x"}
    )
    assert response.status_code == 400
    assert Diagnosis.objects.get(pk=primary.pk).status == DiagnosisStatus.ACTIVE


def test_without_javascript_the_search_button_lists_codes(client, login, clinician, patient):
    login(client, clinician)
    response = client.post(_add(patient), {"q": "generalized anxiety", "action": "search"})
    assert response.status_code == 200
    assert b'value="F41.1"' in response.content
    assert not Diagnosis.objects.exists()


def test_resolve_and_edit(client, login, clinician, patient, primary, secondary):
    login(client, clinician)
    today = timezone.localdate().isoformat()
    response = client.post(
        reverse("diagnoses:resolve", args=[secondary.pk]),
        {f"res{secondary.pk}-resolved_date": today},
    )
    assert response.status_code == 302
    secondary.refresh_from_db()
    assert secondary.status == DiagnosisStatus.RESOLVED and secondary.resolved_by == clinician
    response = client.post(
        reverse("diagnoses:edit", args=[primary.pk]),
        {f"dx{primary.pk}-rank": "primary", f"dx{primary.pk}-onset_date": "2024-03-01"},
    )
    assert response.status_code == 302
    primary.refresh_from_db()
    assert primary.onset_date.isoformat() == "2024-03-01"
    assert AuditEvent.objects.filter(
        object_type="diagnoses.diagnosis", action="transition", patient=patient
    ).exists()
    assert AuditEvent.objects.filter(
        object_type="diagnoses.diagnosis", action="update", detail="changed onset_date"
    ).exists()


def test_page_view_is_audited(client, login, clinician, patient, primary):
    login(client, clinician)
    client.get(_page(patient))
    assert AuditEvent.objects.filter(
        actor=clinician, action="view", patient=patient, detail="diagnoses page"
    ).exists()


# --- access --------------------------------------------------------------------------------


def test_other_programs_clinician_is_refused_everything(
    client, login, other_clinician, patient, primary
):
    login(client, other_clinician)
    assert client.get(_page(patient)).status_code == 404
    assert client.post(_add(patient), {"code": "F41.1", "rank": "secondary"}).status_code == 404
    resolve = reverse("diagnoses:resolve", args=[primary.pk])
    assert client.post(resolve, {f"res{primary.pk}-resolved_date": "2025-01-01"}).status_code == 404
    assert client.post(reverse("diagnoses:remove", args=[primary.pk])).status_code == 404
    assert Diagnosis.objects.count() == 1 and primary.status == DiagnosisStatus.ACTIVE
    assert AuditEvent.objects.filter(actor=other_clinician, action="denied").count() == 4


def test_patients_cannot_open_the_page_or_add(client, login, patient, outsider, primary):
    for who in (patient, outsider):
        client.logout()
        login(client, who)
        assert client.get(_page(patient)).status_code == 404
        assert client.post(_add(patient), {"code": "F41.1", "rank": "secondary"}).status_code == 404
        edit = reverse("diagnoses:edit", args=[primary.pk])
        assert client.post(edit, {f"dx{primary.pk}-rank": "secondary"}).status_code == 404
    assert Diagnosis.objects.count() == 1


def test_logged_out_is_sent_to_sign_in(client, patient, primary):
    assert client.get(_page(patient)).status_code == 302
    assert client.post(_add(patient), {"code": "F41.1", "rank": "secondary"}).status_code == 302
    assert Diagnosis.objects.count() == 1


def test_admin_reads_but_does_not_write(client, login, admin, patient, primary):
    login(client, admin)
    page = client.get(_page(patient))
    assert page.status_code == 200 and b"F33.1" in page.content
    assert b"Add a diagnosis" not in page.content
    assert client.post(_add(patient), {"code": "F41.1", "rank": "secondary"}).status_code == 404


# --- where diagnoses show ------------------------------------------------------------------


def test_plan_page_carries_the_active_diagnoses(client, login, clinician, patient, primary):
    login(client, clinician)
    response = client.get(reverse("enrollment:patient_treatment_plan", args=[patient.pk]))
    assert response.status_code == 200
    assert b"F33.1" in response.content and b"Manage diagnoses" in response.content
    assert AuditEvent.objects.filter(
        actor=clinician, patient=patient, detail="treatment plan diagnoses"
    ).exists()


def test_chart_section_lists_them_with_pinned_queries(
    rf, clinician, patient, primary, secondary, django_assert_num_queries
):
    from apps.diagnoses.panels import chart_diagnoses
    from apps.progress.extensions import chart_sections

    request = rf.get("/")
    request.user = clinician
    # diagnoses, level of care, the audit row
    with django_assert_num_queries(3):
        template, context = chart_diagnoses(request, patient)
        [d.added_by.full_name for d in context["diagnoses"]]
    assert [d.code for d in context["diagnoses"]] == ["F33.1", "F41.1"]
    keys = [s.key for s in chart_sections(request, patient, audience="staff")]
    assert "diagnoses" in keys


def test_chart_page_shows_the_section(client, login, clinician, patient, primary):
    login(client, clinician)
    response = client.get(reverse("progress:chart", args=[patient.pk]))
    assert response.status_code == 200
    assert b'id="h-diagnoses"' in response.content and b"F33.1" in response.content


def test_patient_reads_their_own_list_without_the_clinicians_note(
    client, login, clinician, patient
):
    from apps.diagnoses import services

    services.diagnosis_add(
        patient=patient, by=clinician, code="F41.1", rank=Rank.PRIMARY, note="private working note"
    )
    login(client, patient)
    response = client.get(reverse("progress:mine"))
    assert response.status_code == 200
    assert b"My diagnoses" in response.content and b"F41.1" in response.content
    assert b"private working note" not in response.content
    assert AuditEvent.objects.filter(actor=patient, detail="my diagnoses").exists()


def test_outsider_sees_none_of_the_members_diagnoses(client, login, outsider, primary):
    login(client, outsider)
    response = client.get(reverse("progress:mine"))
    assert b"F33.1" not in response.content
