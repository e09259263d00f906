"""Cached page fragments (apps.core.fragments): a write shows at once, viewers never share a
fragment, and audited reads are audited on a cache hit too."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from apps.audit.models import AuditEvent
from apps.core import fragments
from apps.scheduling.models import Appointment
from tests.factories import patient_in
from tests.homework.factories import assign, shipped_modules
from tests.progress.factories import checkin, valid_post

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fragment_cache(settings):
    settings.FRAGMENT_CACHE = True
    cache.clear()
    yield
    cache.clear()


def _queries(client, path):
    with CaptureQueriesContext(connection) as ctx:
        body = client.get(path).content.decode()
    return len(ctx.captured_queries), body


def test_dashboard_panels_are_served_from_the_cache(client, login, patient):
    login(client, patient)
    client.get("/")
    first, _ = _queries(client, "/")
    cache.clear()
    uncached, _ = _queries(client, "/")
    assert first < uncached


def test_a_checkin_shows_on_the_dashboard_at_once(
    client, login, patient, django_capture_on_commit_callbacks
):
    login(client, patient)
    assert "Done today" not in client.get("/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("progress:checkin"), valid_post(mood="6"))
    assert "Done today" in client.get("/").content.decode()


def test_a_new_homework_assignment_shows_on_the_dashboard_at_once(
    client, login, patient, clinician, django_capture_on_commit_callbacks
):
    module = next(iter(shipped_modules().values()))
    title = escape(module.title)
    login(client, patient)
    assert title not in client.get("/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assign(clinician, patient, module)
    assert title in client.get("/").content.decode()


def test_without_the_after_commit_bump_the_cached_panel_would_be_stale(
    client, login, patient, clinician
):
    """The control for the tests above: the panel really is cached, so only the version
    bump makes the new assignment show."""
    module = next(iter(shipped_modules().values()))
    title = escape(module.title)
    login(client, patient)
    client.get("/")
    assign(clinician, patient, module)  # on_commit never runs inside the test transaction
    assert title not in client.get("/").content.decode()


def test_two_patients_never_see_each_others_cached_panels(
    client, login, patient, program, clinician
):
    module = next(iter(shipped_modules().values()))
    title = escape(module.title)
    other = patient_in(program, email="other-frag@example.test")
    assign(clinician, patient, module)
    login(client, patient)
    assert title in client.get("/").content.decode()
    client.logout()
    login(client, other)
    body = client.get("/").content.decode()
    assert title not in body
    assert client.get(reverse("scheduling:my_week")).status_code == 200


def test_my_week_is_audited_on_every_view_cached_or_not(client, login, patient):
    login(client, patient)
    for _ in range(3):
        assert client.get(reverse("scheduling:my_week")).status_code == 200
    assert AuditEvent.objects.filter(actor=patient, object_type="scheduling.week").count() == 3


def test_today_is_audited_on_every_view_cached_or_not(client, login, clinician):
    login(client, clinician)
    for _ in range(2):
        assert client.get(reverse("scheduling:today")).status_code == 200
    assert AuditEvent.objects.filter(actor=clinician, object_type="scheduling.today").count() == 2


def test_a_form_in_a_cached_fragment_carries_the_viewers_own_csrf_token(
    login, program, clinician, patient, django_capture_on_commit_callbacks
):
    """My week is cached; its forms (cancel an appointment) still post under CSRF checks, for
    the session that is looking, after the fragment was cached for another session."""
    starts = timezone.now() + dt.timedelta(days=2)
    appointment = Appointment.objects.create(
        program=program,
        clinician=clinician,
        patient=patient,
        kind="individual",
        starts_at=starts,
        ends_at=starts + dt.timedelta(hours=1),
        status="booked",
    )
    week = reverse("scheduling:my_week") + f"?week={timezone.localdate(starts).isoformat()}"
    first = Client(enforce_csrf_checks=True)
    login(first, patient)
    assert fragments.csrf_placeholder() not in first.get(week).content.decode()
    browser = Client(enforce_csrf_checks=True)
    login(browser, patient)
    body = browser.get(week).content.decode()
    assert fragments.csrf_placeholder() not in body
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            reverse("scheduling:appointment_status", args=[appointment.pk]),
            {"status": "cancelled", "csrfmiddlewaretoken": token},
        )
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == "cancelled"


def test_versions_are_bumped_for_the_row_and_the_rows_it_points_at(
    patient, django_capture_on_commit_callbacks
):
    scopes = [fragments.user_scope(patient), "progress.dailycheckin", "app:progress"]
    before = fragments._versions(scopes)
    with django_capture_on_commit_callbacks(execute=True):
        checkin(patient, days_ago=40)
    after = fragments._versions(scopes)
    assert all(b != a for b, a in zip(before, after, strict=True))


def test_audit_events_do_not_bump_versions(patient, django_capture_on_commit_callbacks):
    from apps.audit.models import AuditAction
    from apps.audit.services import audit_record

    before = fragments._versions([fragments.user_scope(patient)])
    with django_capture_on_commit_callbacks(execute=True):
        audit_record(actor=patient, action=AuditAction.VIEW, object_type="x", patient=patient)
    assert fragments._versions([fragments.user_scope(patient)]) == before


def test_off_without_a_shared_cache(settings, client, login, patient, clinician):
    settings.FRAGMENT_CACHE = False
    module = next(iter(shipped_modules().values()))
    title = escape(module.title)
    login(client, patient)
    client.get("/")
    assign(clinician, patient, module)
    assert title in client.get("/").content.decode()


def test_homework_progress_shows_on_the_dashboard_at_once(
    client, login, patient, clinician, django_capture_on_commit_callbacks
):
    """Responses point at the assignment, not the patient: the panel depends on their table."""
    from apps.homework import services
    from tests.homework.factories import DictData

    module = shipped_modules()["urge-surfing"]
    assignment = assign(clinician, patient, module)
    steps = assignment.module_version.step_count
    login(client, patient)
    assert f"0/{steps}" in client.get("/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        services.response_save(
            assignment=assignment, user=patient, step_id="waves", data=DictData({"read": "1"})
        )
    assert f"1/{steps}" in client.get("/").content.decode()


def test_an_expired_counter_never_brings_back_an_old_fragment(client, login, patient, clinician):
    """Counters expire (VERSION_TTL); one that comes back gets a fresh value, so fragments
    stored under the old one are not served."""
    module = next(iter(shipped_modules().values()))
    title = escape(module.title)
    login(client, patient)
    client.get("/")
    assign(clinician, patient, module)  # no after-commit bump inside the test transaction
    cache.delete(fragments._VERSION_PREFIX + fragments.user_scope(patient))
    assert title in client.get("/").content.decode()


def test_a_row_counter_exists_only_for_row_scoped_tables():
    assert fragments.scope("rooms.room", 3) == "rooms.room:3"
    with pytest.raises(ValueError, match="ROW_SCOPED"):
        fragments.scope("rooms.message", 3)


# --- Safety data (flags, the caseload, the crisis banner) is never cached --------------------
def _flagged(body: str, patient) -> bool:
    row = re.search(rf'<tr data-patient="{patient.pk}"[^>]*>', body)
    assert row is not None, "the patient is not on the caseload"
    return "row-flagged" in row.group(0)


def test_a_new_or_acknowledged_safety_flag_shows_on_the_next_page_load(
    client, login, clinician, patient, program
):
    """No after-commit callback runs in this test (its transaction never commits), so no
    cached copy could be invalidated: each page shows the flag only because none is kept."""
    from apps.measures.services import safety_flag_acknowledge, safety_flag_raise

    login(client, clinician)
    caseload = reverse("progress:caseload")
    for _ in range(2):  # a second load would be served from a cache
        assert not _flagged(client.get(caseload).content.decode(), patient)
        assert "No open safety flags." in client.get("/").content.decode()
    flag = safety_flag_raise(
        patient=patient, program=program, severity="high", source="checkin", reason="test"
    )
    assert _flagged(client.get(caseload).content.decode(), patient)
    home = client.get("/").content.decode()
    assert reverse("measures:flag_detail", args=[flag.pk]) in home
    safety_flag_acknowledge(flag=flag, by=clinician, note="Called; safe tonight.")
    assert not _flagged(client.get(caseload).content.decode(), patient)
    assert "No open safety flags." in client.get("/").content.decode()


def test_nothing_stored_in_the_cache_carries_a_safety_flag(
    client, login, clinician, patient, program, monkeypatch
):
    from apps.measures.services import safety_flag_raise

    stored = []
    real_set, real_set_many = cache.set, cache.set_many

    def recording_set(key, value, *args, **kwargs):
        stored.append(str(value))
        return real_set(key, value, *args, **kwargs)

    def recording_set_many(data, *args, **kwargs):
        stored.extend(str(value) for value in data.values())
        return real_set_many(data, *args, **kwargs)

    monkeypatch.setattr(cache, "set", recording_set)
    monkeypatch.setattr(cache, "set_many", recording_set_many)
    flag = safety_flag_raise(
        patient=patient, program=program, severity="high", source="checkin", reason="test"
    )
    login(client, clinician)
    for path in ("/", reverse("progress:caseload"), reverse("scheduling:today")):
        assert client.get(path).status_code == 200
    client.logout()
    login(client, patient)
    assert client.get("/").status_code == 200
    detail = reverse("measures:flag_detail", args=[flag.pk])
    assert not [value for value in stored if detail in value or "row-flagged" in value]


def test_the_caseload_checks_its_filters_on_every_load(client, login, clinician, patient):
    """A bad filter stays a 400, however often it is asked for."""
    login(client, clinician)
    path = reverse("progress:caseload")
    for _ in range(2):
        assert client.get(path).status_code == 200
        assert client.get(path, {"sort": "drop table"}).status_code == 400
        assert client.get(path, {"sort": "name"}).status_code == 200


def test_a_clinician_never_gets_another_clinicians_caseload(
    client, login, clinician, patient, other_clinician, other_program
):
    stranger = patient_in(other_program, email="stranger@example.test", full_name="Sam Stranger")
    login(client, clinician)
    assert (
        f'data-patient="{patient.pk}"' in client.get(reverse("progress:caseload")).content.decode()
    )
    other = Client()
    login(other, other_clinician)
    body = other.get(reverse("progress:caseload")).content.decode()
    assert f'data-patient="{patient.pk}"' not in body
    assert f'data-patient="{stranger.pk}"' in body


def test_the_caseload_is_audited_on_every_view(client, login, clinician, patient):
    login(client, clinician)
    for _ in range(3):
        assert client.get(reverse("progress:caseload")).status_code == 200
    assert AuditEvent.objects.filter(object_type="progress.caseload", actor=clinician).count() == 3


def test_a_search_term_stays_out_of_the_cache_keys(client, login, clinician, patient, monkeypatch):
    stored = []
    real_set = cache.set

    def recording_set(key, *args, **kwargs):
        stored.append(str(key))
        return real_set(key, *args, **kwargs)

    monkeypatch.setattr(cache, "set", recording_set)
    login(client, clinician)
    client.get(reverse("progress:caseload") + "?q=Zebediah")
    assert not any("Zebediah" in key for key in stored)


def test_the_crisis_banner_shows_each_patients_clinic_and_a_phone_change_at_once(
    client, login, patient, program, other_program
):
    """Read on every page: the changed phone shows with no after-commit invalidation."""
    program.clinic_phone = "(555) 010-1111"
    program.save()
    other_program.clinic_phone = "(555) 010-2222"
    other_program.save()
    login(client, patient)
    assert "(555) 010-1111" in client.get("/").content.decode()
    other = Client()
    login(other, patient_in(other_program, email="o@example.test"))
    body = other.get("/").content.decode()
    assert "(555) 010-2222" in body and "(555) 010-1111" not in body
    program.clinic_phone = "(555) 010-3333"
    program.save()
    assert "(555) 010-3333" in client.get("/").content.decode()
    assert "(555) 010-3333" in client.get(reverse("crisis")).content.decode()


def test_a_new_chat_message_bumps_nothing_but_a_removed_one_does(
    live_room_message_parts, django_capture_on_commit_callbacks
):
    """Posting happens only in live rooms, whose transcript is never cached: a chat message
    costs no cache write. Removing one (an edit) still invalidates the closed transcript."""
    room, author = live_room_message_parts
    from apps.rooms.models import Message

    with django_capture_on_commit_callbacks(execute=False) as posted:
        message = Message.objects.create(
            room=room, author=author, body="hi", created_at=timezone.now(), seq=1
        )
    assert posted == []
    with django_capture_on_commit_callbacks(execute=False) as removed:
        message.deleted_at = timezone.now()
        message.save(update_fields=["deleted_at"])
    assert len(removed) == 1


@pytest.fixture
def live_room_message_parts(program, clinician, patient):
    from apps.rooms.models import Room
    from tests.rooms.factories import make_session

    session = make_session(program, [clinician], [patient])
    return Room.objects.create(session=session), patient
