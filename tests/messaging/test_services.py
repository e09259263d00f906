"""Messaging services: threads, replies, bad input (nothing written), notifications once,
safety flags from a message and from a check-in note, read receipts, archive, discharge."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.audit.models import AuditEvent
from apps.enrollment.models import Application, Status
from apps.measures.models import SafetyFlag
from apps.messaging import selectors, services
from apps.messaging.models import Attachment, Audience, Message, Thread
from apps.messaging.services import MessagingForbidden
from apps.notifications.models import Kind, Outbox
from apps.programs.models import ProgramStaff
from apps.progress.services import checkin_save
from apps.rooms.models import RiskPhrase
from tests.factories import ProgramFactory, admin_user, clinician_in
from tests.messaging.conftest import cid, pdf_upload, png_bytes, png_upload
from tests.progress.factories import valid_post

pytestmark = pytest.mark.django_db


def start(patient, **kw):
    args = {
        "by": patient,
        "audience": Audience.CLINICAL,
        "subject": "Hello",
        "body": "A question about **homework**",
        "client_id": cid(),
    }
    args.update(kw)
    return services.thread_start(**args)


def test_patient_starts_clinical_thread_needs_reply_and_notifies_primary(patient, clinician):
    thread, created = start(patient)
    assert created and thread.needs_reply and thread.patient == patient
    rows = Outbox.objects.filter(kind=Kind.NEW_MESSAGE)
    assert {r.recipient_id for r in rows} == {clinician.pk}
    # No message text, subject or name of the sender in the payload: a link with ids only.
    assert all(r.payload == {"link": f"/messages/{thread.pk}/"} for r in rows)


def test_notification_is_sent_once_per_message_and_recipient(patient, clinician):
    thread, _ = start(patient)
    message = thread.messages.get()
    before = Outbox.objects.count()
    # A second schedule of the same event (a retry) writes nothing new.
    services.notification_schedule(
        recipient=clinician,
        kind=Kind.NEW_MESSAGE,
        event_key=f"messaging.message:{message.pk}",
        context={"link": "/messages/"},
    )
    assert Outbox.objects.count() == before


def test_staff_reply_clears_needs_reply_and_notifies_patient(patient, clinician):
    thread, _ = start(patient)
    msg, created = services.message_post(
        author=clinician, thread_id=thread.pk, body="Answer", client_id=cid()
    )
    assert created
    thread.refresh_from_db()
    assert not thread.needs_reply
    assert Outbox.objects.filter(
        recipient=patient, event_key=f"messaging.message:{msg.pk}"
    ).exists()


def test_new_message_email_has_no_content(patient, clinician):
    from apps.notifications.rendering import render

    message = render(kind=Kind.NEW_MESSAGE, recipient=clinician, payload={"link": "/messages/1/"})
    assert message.subject == "You have a new message"
    assert "homework" not in (message.body + message.sms + " ".join(message.lines)).lower()


def test_double_submit_writes_one_thread_and_one_message(patient):
    key = cid()
    first, c1 = start(patient, client_id=key)
    second, c2 = start(patient, client_id=key)
    assert first == second and c1 and not c2
    reply_key = cid()
    m1, _ = services.message_post(author=patient, thread_id=first.pk, body="x", client_id=reply_key)
    m2, again = services.message_post(
        author=patient, thread_id=first.pk, body="x", client_id=reply_key
    )
    assert m1 == m2 and not again
    assert Message.objects.count() == 2


@pytest.mark.parametrize(
    "body,field",
    [("", "body"), ("   ", "body"), ("bad\x00byte", "body"), ("x" * 5001, "body")],
)
def test_bad_body_writes_nothing(patient, body, field):
    with pytest.raises(ValidationError) as exc:
        start(patient, body=body)
    assert field in exc.value.error_dict
    assert Thread.objects.count() == 0 and Message.objects.count() == 0


def test_bad_client_id_is_refused(patient):
    with pytest.raises(ValidationError):
        start(patient, client_id="not-a-uuid")
    assert Thread.objects.count() == 0


def test_oversized_attachment_refused_nothing_written(patient, settings, tmp_path):
    settings.MESSAGING_ATTACHMENT_MAX_BYTES = 50
    with pytest.raises(ValidationError) as exc:
        start(patient, upload=png_upload())
    assert "too large" in exc.value.error_dict["attachment"][0].messages[0]
    assert Thread.objects.count() == 0 and Attachment.objects.count() == 0
    assert not (tmp_path / "private").exists() or not any((tmp_path / "private").rglob("*.*"))


@pytest.mark.parametrize(
    "upload",
    [
        SimpleUploadedFile("photo.png", b"<html><script>alert(1)</script>", "image/png"),
        SimpleUploadedFile("doc.pdf", b"MZ\x90\x00 not a pdf", "application/pdf"),
        SimpleUploadedFile("x.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif"),
        SimpleUploadedFile("trunc.png", png_bytes()[:30], "image/png"),
    ],
)
def test_disguised_attachment_refused(patient, upload):
    with pytest.raises(ValidationError) as exc:
        start(patient, upload=upload)
    assert "PNG or JPEG" in exc.value.error_dict["attachment"][0].messages[0]
    assert Thread.objects.count() == 0 and Attachment.objects.count() == 0


def test_attachment_stored_privately_with_type_from_content(patient, settings):
    thread, _ = start(patient, upload=pdf_upload("my scan.png"))
    attachment = Attachment.objects.get()
    assert attachment.content_type == "application/pdf"
    assert attachment.file.name.startswith("messages/") and "scan" not in attachment.file.name
    assert str(settings.PRIVATE_MEDIA_ROOT) in attachment.file.path


def _files(settings) -> list:
    root = settings.PRIVATE_MEDIA_ROOT
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


class _Boom(Exception):
    pass


def _fail(*args, **kwargs):
    raise _Boom


def _fail_on_message_audit(*args, **kwargs):
    if kwargs.get("detail") == "message with attachment":
        raise _Boom


@pytest.mark.parametrize(
    ("after", "failing"),
    [
        ("apps.messaging.services.audit_record", _fail_on_message_audit),
        ("apps.messaging.services.notification_schedule", _fail),
    ],
)
def test_a_failure_after_the_file_is_written_leaves_no_file(
    patient, clinician, settings, monkeypatch, after, failing
):
    written = []
    real_save = Attachment.file.field.attr_class.save

    def save_and_note(self, name, content, save=True):
        real_save(self, name, content, save=save)
        written.append(self.path)

    monkeypatch.setattr(Attachment.file.field.attr_class, "save", save_and_note)
    monkeypatch.setattr(after, failing)
    with pytest.raises(_Boom):
        start(patient, upload=png_upload())
    assert len(written) == 1  # the file was written before the failure...
    assert _files(settings) == []  # ...and removed with the rollback
    assert Thread.objects.count() == 0 and Attachment.objects.count() == 0


def test_a_failed_reply_with_an_attachment_leaves_no_file(
    patient, clinician, settings, monkeypatch
):
    thread, _ = start(patient)
    monkeypatch.setattr("apps.messaging.services.notification_schedule", _fail)
    with pytest.raises(_Boom):
        services.message_post(
            author=clinician,
            thread_id=thread.pk,
            body="See the scan",
            client_id=cid(),
            upload=pdf_upload(),
        )
    assert _files(settings) == [] and Attachment.objects.count() == 0
    assert Message.objects.filter(thread=thread).count() == 1
    monkeypatch.undo()
    # The same attachment then goes through, and its file is kept.
    services.message_post(
        author=clinician,
        thread_id=thread.pk,
        body="See the scan",
        client_id=cid(),
        upload=pdf_upload(),
    )
    assert len(_files(settings)) == 1 == Attachment.objects.count()


def _told(thread) -> set[str]:
    keys = [f"messaging.message:{m.pk}" for m in thread.messages.all()]
    return set(
        Outbox.objects.filter(event_key__in=keys, kind=Kind.NEW_MESSAGE).values_list(
            "recipient__email", flat=True
        )
    )


@pytest.mark.parametrize(
    ("audience", "function"), [(Audience.SCHEDULING, "front_desk"), (Audience.BILLING, "billing")]
)
def test_unassigned_scheduling_and_billing_go_to_staff_with_that_function(
    patient, clinician, program, audience, function
):
    other = clinician_in(program)  # a second clinician: never told of these
    desk = clinician_in(program)
    ProgramStaff.objects.filter(user=desk).update(**{function: True})
    elsewhere = clinician_in(ProgramFactory())  # the function in another program: not told
    ProgramStaff.objects.filter(user=elsewhere).update(**{function: True})
    thread, _ = start(patient, audience=audience)
    assert _told(thread) == {desk.email}
    assert clinician.email not in _told(thread) and other.email not in _told(thread)


def test_without_the_function_the_programs_admins_are_told_then_every_admin(
    patient, clinician, program
):
    site_admin = admin_user()
    thread, _ = start(patient, audience=Audience.SCHEDULING)
    assert _told(thread) == {site_admin.email}  # the program has no admin of its own
    program_admin = admin_user()
    ProgramStaff.objects.create(program=program, user=program_admin)
    # A billing desk does not answer Scheduling.
    ProgramStaff.objects.filter(user=clinician).update(billing=True)
    thread, _ = start(patient, audience=Audience.SCHEDULING)
    assert _told(thread) == {program_admin.email}


def test_an_assigned_scheduling_thread_goes_to_its_assignee_only(patient, clinician, program):
    desk = clinician_in(program)
    ProgramStaff.objects.filter(user=desk).update(front_desk=True)
    thread, _ = start(patient, audience=Audience.SCHEDULING)
    services.thread_assign(thread=thread, by=clinician, assignee_id=clinician.pk)
    services.message_post(author=patient, thread_id=thread.pk, body="Any news?", client_id=cid())
    last = thread.messages.order_by("-pk").first()
    told = set(
        Outbox.objects.filter(event_key=f"messaging.message:{last.pk}").values_list(
            "recipient__email", flat=True
        )
    )
    assert told == {clinician.email}


def test_reply_to_foreign_thread_refused(patient, outsider, other_clinician):
    thread, _ = start(patient)
    for intruder in (outsider, other_clinician):
        with pytest.raises(MessagingForbidden):
            services.message_post(author=intruder, thread_id=thread.pk, body="x", client_id=cid())
    assert Message.objects.count() == 1


def test_staff_cannot_start_thread_to_other_programs_patient(other_clinician, patient):
    with pytest.raises(MessagingForbidden):
        services.thread_start(
            by=other_clinician,
            patient=patient,
            audience=Audience.CLINICAL,
            subject="x",
            body="y",
            client_id=cid(),
        )
    assert Thread.objects.count() == 0


def test_reply_to_closed_or_archived_thread_refused(patient, clinician):
    thread, _ = start(patient)
    services.thread_close(thread=thread, by=clinician, closed=True)
    with pytest.raises(ValidationError, match="closed"):
        services.message_post(author=patient, thread_id=thread.pk, body="x", client_id=cid())
    services.thread_close(thread=thread, by=clinician, closed=False)
    services.thread_archive(thread=thread, user=patient, archived=True)
    with pytest.raises(ValidationError, match="archived"):
        services.message_post(author=patient, thread_id=thread.pk, body="x", client_id=cid())
    assert Message.objects.count() == 1


def test_discharged_patient_reads_but_sends_per_program_setting(patient, program, clinician):
    thread, _ = start(patient)
    Application.objects.create(patient=patient, program=program, status=Status.DISCHARGED)
    with pytest.raises(ValidationError, match="ended"):
        services.message_post(author=patient, thread_id=thread.pk, body="x", client_id=cid())
    with pytest.raises(ValidationError, match="ended"):
        start(patient)
    assert selectors.thread_get_for_viewer(user=patient, thread_id=thread.pk) == thread
    program.messaging_after_discharge = True
    program.save(update_fields=["messaging_after_discharge"])
    thread.program.refresh_from_db()
    _, created = services.message_post(
        author=patient, thread_id=thread.pk, body="x", client_id=cid()
    )
    assert created
    # Staff may still write to a discharged patient.
    services.message_post(author=clinician, thread_id=thread.pk, body="y", client_id=cid())


def test_risk_phrase_in_patient_message_raises_safety_flag(patient, clinician):
    RiskPhrase.objects.create(phrase="end my life")
    thread, _ = start(patient, body="Some days I want to End  my life.")
    flag = SafetyFlag.objects.get(patient=patient)
    assert flag.source == "message" and flag.severity == "high"
    assert "end my life" not in flag.reason.lower()  # ids only
    assert Outbox.objects.filter(kind=Kind.SAFETY_ALERT).exists()
    # Staff writing the phrase raise nothing.
    services.message_post(
        author=clinician, thread_id=thread.pk, body="If you want to end my life...", client_id=cid()
    )
    assert SafetyFlag.objects.filter(patient=patient).count() == 1


def test_risk_phrase_in_checkin_note_raises_safety_flag_once_a_day(patient):
    RiskPhrase.objects.create(phrase="kill myself")
    _, _, flags = checkin_save(patient=patient, data=valid_post(note="I might kill myself"))
    assert [f.source for f in flags] == ["checkin_note_risk"]
    assert flags[0].severity == "high" and "kill" not in flags[0].reason
    _, _, again = checkin_save(patient=patient, data=valid_post(note="kill myself, still"))
    assert again == []
    assert SafetyFlag.objects.filter(patient=patient, source="checkin_note_risk").count() == 1


def test_checkin_note_without_phrase_raises_nothing(patient):
    RiskPhrase.objects.create(phrase="kill myself")
    _, _, flags = checkin_save(patient=patient, data=valid_post(note="Skills helped today"))
    assert flags == []


def test_read_receipts_and_unread(patient, clinician):
    thread, _ = start(patient)
    assert selectors.unread_count(user=clinician) == 1
    assert selectors.unread_count(user=patient) == 0
    assert selectors.other_side_read_at(thread=thread, viewer=patient) is None
    services.thread_read(thread=thread, user=clinician)
    assert selectors.unread_count(user=clinician) == 0
    assert selectors.other_side_read_at(thread=thread, viewer=patient) is not None
    services.message_post(author=clinician, thread_id=thread.pk, body="hi", client_id=cid())
    assert selectors.unread_count(user=patient) == 1
    assert list(selectors.inbox(user=clinician, which="needs_reply")) == []


def test_archive_is_per_viewer(patient, clinician):
    thread, _ = start(patient)
    services.thread_archive(thread=thread, user=patient, archived=True)
    assert list(selectors.inbox(user=patient)) == []
    assert list(selectors.inbox(user=patient, which="archived")) == [thread]
    assert list(selectors.inbox(user=clinician)) == [thread]


def test_assign_only_to_program_clinicians(patient, clinician, other_clinician):
    thread, _ = start(patient)
    services.thread_assign(thread=thread, by=clinician, assignee_id=str(clinician.pk))
    assert list(selectors.inbox(user=clinician, which="mine")) == [thread]
    with pytest.raises(ValidationError):
        services.thread_assign(thread=thread, by=clinician, assignee_id=str(other_clinician.pk))
    with pytest.raises(ValidationError):
        services.thread_assign(thread=thread, by=clinician, assignee_id="1 OR 1=1")
    with pytest.raises(MessagingForbidden):
        services.thread_assign(thread=thread, by=other_clinician, assignee_id="")
    with pytest.raises(MessagingForbidden):
        services.thread_file(thread=thread, by=patient)


def test_writes_are_audited(patient, clinician):
    thread, _ = start(patient)
    services.thread_file(thread=thread, by=clinician)
    details = set(AuditEvent.objects.filter(patient=patient).values_list("detail", flat=True))
    assert {"thread", "message", "filed"} <= details
