"""A family member under an active release gets the time of each upcoming appointment or
group session by e-mail, with nothing but the patient's first name and the time; each e-mail
is a disclosure logged once under the release (with the Part 2 notice where it applies), and
a revocation, an expiry or a confirmed expiry event stops the next one."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.disclosures.appointment_times import plan_family_times
from apps.disclosures.models import Disclosure, DisclosureKind
from apps.enrollment import services
from apps.enrollment.models import ReleaseOfInformation
from apps.notifications import dispatch, tasks
from apps.notifications.forms import kinds_for_role
from apps.notifications.models import Channel, Kind, Outbox, Status
from apps.notifications.planning import PLANNERS
from apps.programs.models import ProgramKind
from apps.scheduling.models import Appointment
from tests.disclosures.test_roi import SISTER, signed_release, today
from tests.factories import ProgramFactory, clinician_in, patient_in
from tests.rooms.factories import make_session

pytestmark = pytest.mark.django_db

EMAIL = SISTER["recipient_email"]


def appointment(patient, clinician, *, hours: float = 3) -> Appointment:
    starts = (timezone.now() + dt.timedelta(hours=hours)).replace(second=0, microsecond=0)
    return Appointment.objects.create(
        program=patient.patient_profile.program,
        clinician=clinician,
        patient=patient,
        kind="individual",
        starts_at=starts,
        ends_at=starts + dt.timedelta(minutes=50),
    )


def family_mail() -> list:
    """E-mails to the family member (a revocation also alerts the clinician by e-mail)."""
    return [m for m in mail.outbox if m.to == [EMAIL]]


def family_rows():
    return Outbox.objects.filter(kind=Kind.FAMILY_TIMES)


def test_the_family_member_gets_the_first_name_and_time_once_and_it_is_logged(
    login, patient, clinician
):
    release = signed_release(patient)
    appt = appointment(patient, clinician)
    assert PLANNERS["family_times"] is plan_family_times
    assert plan_family_times(now=timezone.now()) == 1
    row = family_rows().get()
    assert row.recipient == patient and row.channel == Channel.EMAIL
    assert row.payload["release_id"] == release.pk and "Maya" not in str(row.payload)
    tasks.deliver_due()

    (sent,) = mail.outbox
    assert sent.to == [EMAIL]
    text = sent.subject + sent.body + sent.alternatives[0][0]
    local = timezone.localtime(appt.starts_at, patient.time_zone)
    assert "Pat has a scheduled appointment" in sent.body
    assert local.strftime("%-I:%M") in sent.body and local.strftime("%B %-d") in sent.body
    # Nothing but the first name and the time: no surname, clinician, kind, or app link.
    for leak in ("Member", "Carla", "individual", "therapy", "group", "/video/", "http"):
        assert leak not in text, leak
    assert "42 CFR" not in text

    disclosure = Disclosure.objects.get()
    assert disclosure.release == release and disclosure.patient == patient
    assert disclosure.kind == DisclosureKind.APPOINTMENT_TIMES and disclosure.by is None
    assert disclosure.recipient == "Maya Member" and disclosure.part2_notice == ""
    assert AuditEvent.objects.filter(
        patient=patient, detail="disclosure sent (appointment_times)"
    ).exists()
    # Planning and sending again change nothing: one e-mail, one disclosure.
    assert plan_family_times(now=timezone.now()) == 0
    tasks.deliver_due()
    assert len(mail.outbox) == 1 and Disclosure.objects.count() == 1
    # The patient sees it in their disclosure log; staff see who sent it.
    mine = login(Client(), patient).get("/progress/").content.decode()
    assert "Appointment times" in mine and "Maya Member" in mine
    chart = login(Client(), clinician).get(f"/progress/patients/{patient.pk}/").content.decode()
    assert "sent automatically" in chart


def test_group_sessions_are_sent_too_and_only_while_seated(patient, clinician, program):
    signed_release(patient)
    session = make_session(program, [clinician], [patient], starts_in=dt.timedelta(hours=5))
    make_session(program, [clinician], [], starts_in=dt.timedelta(hours=6))  # not a member
    assert plan_family_times(now=timezone.now()) == 1
    assert f"/session:{session.pk}@" in family_rows().get().event_key
    tasks.deliver_due()
    assert len(mail.outbox) == 1 and Disclosure.objects.count() == 1


def test_an_appointment_more_than_a_day_ahead_is_sent_a_day_before(patient, clinician):
    signed_release(patient)
    appt = appointment(patient, clinician, hours=40)
    plan_family_times(now=timezone.now())
    row = family_rows().get()
    assert row.due_at == appt.starts_at - dt.timedelta(hours=24)
    tasks.deliver_due()
    assert mail.outbox == [] and not Disclosure.objects.exists()


def test_revocation_takes_effect_before_the_next_disclosure(patient, clinician):
    release = signed_release(patient)
    appointment(patient, clinician, hours=2)
    plan_family_times(now=timezone.now())
    tasks.deliver_due()
    assert len(family_mail()) == 1 and Disclosure.objects.count() == 1

    appointment(patient, clinician, hours=4)
    plan_family_times(now=timezone.now())
    services.consent_revoke(patient=patient, release=release, effective_on=today(patient))
    tasks.deliver_due()
    assert len(family_mail()) == 1 and Disclosure.objects.count() == 1
    stopped = family_rows().get(status=Status.CANCELLED)
    assert stopped.last_error == "release revoked"
    # And nothing new is planned under it.
    appointment(patient, clinician, hours=6)
    assert plan_family_times(now=timezone.now()) == 0


def test_a_revocation_between_the_check_and_the_hand_over_still_stops_it(
    patient, clinician, monkeypatch
):
    """The send-time guard passed; the patient revoked before the e-mail was handed over:
    the hand-over check, under the release's row lock, stops it."""
    release = signed_release(patient)
    appointment(patient, clinician)
    plan_family_times(now=timezone.now())
    real = dispatch.guards.reason_to_skip

    def guard_then_revoke(row):
        verdict = real(row)
        services.consent_revoke(patient=patient, release=release, effective_on=today(patient))
        return verdict

    monkeypatch.setattr(dispatch.guards, "reason_to_skip", guard_then_revoke)
    tasks.deliver_due()
    assert family_mail() == [] and not Disclosure.objects.exists()
    assert family_rows().get().status == Status.CANCELLED


def test_a_confirmed_expiry_event_or_a_past_expiry_date_stops_the_next_send(patient, clinician):
    release = signed_release(patient)
    appointment(patient, clinician)
    plan_family_times(now=timezone.now())
    services.release_event_confirm(by=clinician, release=release, happened_on=today(patient))
    tasks.deliver_due()
    assert family_mail() == [] and not Disclosure.objects.exists()
    assert family_rows().get().last_error == "release expired"

    dated = signed_release(
        patient,
        expiry_event="",
        expires_on=today(patient) + dt.timedelta(days=1),
        recipient_name="Sam Member",
    )
    plan_family_times(now=timezone.now())
    rows = family_rows().filter(event_key__startswith=f"disclosures.release:{dated.pk}/")
    assert rows.count() == 1
    # Time passes: the release's last day is over when the row falls due.
    ReleaseOfInformation.objects.filter(pk=dated.pk).update(
        expires_on=today(patient) - dt.timedelta(days=1)
    )
    tasks.deliver_due()
    assert rows.get().status == Status.CANCELLED and rows.get().last_error == "release expired"
    assert family_mail() == [] and not Disclosure.objects.exists()


def test_a_moved_or_cancelled_appointment_is_not_sent(patient, clinician):
    signed_release(patient)
    moved = appointment(patient, clinician, hours=2)
    cancelled = appointment(patient, clinician, hours=3)
    plan_family_times(now=timezone.now())
    later = dt.timedelta(hours=1)
    Appointment.objects.filter(pk=moved.pk).update(
        starts_at=moved.starts_at + later, ends_at=moved.ends_at + later
    )
    Appointment.objects.filter(pk=cancelled.pk).update(status="cancelled")
    tasks.deliver_due()
    assert mail.outbox == [] and not Disclosure.objects.exists()
    assert set(family_rows().values_list("last_error", flat=True)) == {
        "appointment moved",
        "appointment not booked",
    }


def test_a_retried_send_logs_one_disclosure(patient, clinician, monkeypatch):
    signed_release(patient)
    appointment(patient, clinician)
    plan_family_times(now=timezone.now())
    real = dispatch.EmailMultiAlternatives.send
    calls = []

    def flaky(email, fail_silently=False):
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionResetError  # after the hand-over: the disclosure is logged
        return real(email, fail_silently)

    monkeypatch.setattr(dispatch.EmailMultiAlternatives, "send", flaky)
    tasks.deliver_due()
    row = family_rows().get()
    assert row.status == Status.PENDING and Disclosure.objects.count() == 1
    Outbox.objects.filter(pk=row.pk).update(due_at=timezone.now())
    tasks.deliver_due()
    assert len(mail.outbox) == 1 and Disclosure.objects.count() == 1
    assert family_rows().get().status == Status.SENT


def test_part2_programs_send_and_log_the_notice():
    sud = ProgramFactory(slug="recovery", kind=ProgramKind.SUBSTANCE_USE)
    doctor = clinician_in(sud)
    sam = patient_in(sud, full_name="Sam Sober")
    signed_release(sam, by=doctor)
    appointment(sam, doctor)
    plan_family_times(now=timezone.now())
    tasks.deliver_due()
    (sent,) = mail.outbox
    assert "42 CFR part 2 prohibits unauthorized" in sent.body
    assert "Sam has a scheduled appointment" in sent.body and "Sober" not in sent.body
    assert "42 CFR part 2 prohibits unauthorized" in Disclosure.objects.get().part2_notice


def test_without_an_email_or_permission_nothing_is_planned(patient, clinician):
    signed_release(patient, may_receive_appointment_times=False, recipient_email="")
    appointment(patient, clinician)
    assert plan_family_times(now=timezone.now()) == 0
    assert not family_rows().exists()


@pytest.mark.parametrize(
    "bad",
    [
        {"recipient_email": ""},
        {"recipient_email": "maya at family"},
        {"recipient_email": "x" * 250 + "@family.example"},
    ],
)
def test_times_need_a_valid_email_and_bad_input_writes_nothing(patient, bad):
    with pytest.raises(ValidationError) as exc:
        services.release_create(by=patient, patient=patient, **{**SISTER, **bad})
    assert "recipient_email" in exc.value.message_dict
    assert not ReleaseOfInformation.objects.exists()


def test_the_sign_form_shows_where_the_times_go(login, patient):
    client = login(Client(), patient)
    form = client.get("/enrollment/releases/new/").content.decode()
    assert 'name="recipient_email"' in form
    release = services.release_create(by=patient, patient=patient, **SISTER)
    page = client.get(f"/enrollment/releases/{release.pk}/").content.decode()
    assert EMAIL in page and "disclosure log" in page


def test_the_family_kind_is_not_a_patient_preference_and_ignores_theirs(patient, clinician):
    assert Kind.FAMILY_TIMES not in kinds_for_role("patient")
    from apps.notifications.models import Preference

    Preference.objects.create(
        user=patient, kind=Kind.FAMILY_TIMES, channel=Channel.EMAIL, enabled=False
    )
    signed_release(patient)
    appointment(patient, clinician)
    plan_family_times(now=timezone.now())
    tasks.deliver_due()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [EMAIL]
