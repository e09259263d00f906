"""Writes for secure messaging. Every entry point (pages, demo, admin) goes through these.

Check, then do: each public service re-checks access and validates everything — body,
attachment, thread state — before it writes, so bad input writes nothing. A message is
stored with its attachment, its risk flag and its notifications in one transaction."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from apps.accounts.http import is_staff
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.core.events import send_event_on_commit, user_group
from apps.core.text import INVALID_TEXT_MESSAGE, has_control_chars
from apps.enrollment.models import private_storage_get
from apps.measures.services import safety_flag_raise
from apps.messaging import selectors
from apps.messaging.models import (
    BODY_MAX,
    SUBJECT_MAX,
    Attachment,
    Audience,
    Message,
    Thread,
    ThreadState,
)
from apps.notifications.models import Kind
from apps.notifications.services import notification_schedule
from apps.rooms.services import risk_phrase_match

if TYPE_CHECKING:
    import datetime as dt

    from apps.accounts.models import User

T = TypeVar("T")
logger = logging.getLogger(__name__)

# Checked by content: a PDF's magic bytes, or an image Pillow reads and verifies as one of these.
IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}
PDF_MAGIC = b"%PDF-"


class MessagingForbidden(Exception):
    """The user may not see this thread (callers answer 404)."""


def _client_uuid(raw: object) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            {"__all__": _("This form has expired. Reload the page and try again.")}
        ) from exc


def _clean_text(errors: dict[str, str], key: str, raw: object, *, limit: int, label: str) -> str:
    text = str(raw or "").strip()
    if has_control_chars(text):
        errors[key] = str(INVALID_TEXT_MESSAGE)
    elif not text:
        errors[key] = _("Write a %(what)s.") % {"what": label}
    elif len(text) > limit:
        errors[key] = _("Keep it under %(n)s characters.") % {"n": f"{limit:,}"}
    return text


def attachment_check(upload: UploadedFile) -> str:
    """The content type of an attachment, decided from its content, or ``ValidationError``.
    PNG and JPEG images (Pillow opens and verifies them) and PDF (magic bytes) only; the
    file's name and the browser's declared type are ignored."""
    limit = settings.MESSAGING_ATTACHMENT_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise ValidationError(
            _("The file is too large: attach files of %(mb)s MB or less.")
            % {"mb": f"{limit / (1024 * 1024):g}"}
        )
    if upload.size == 0:
        raise ValidationError(_("The file is empty."))
    wrong = _("Attach a photo (PNG or JPEG) or a PDF. This file is neither.")
    try:
        upload.seek(0)
        data = upload.read(limit + 1)
    finally:
        upload.seek(0)
    if len(data) > limit:
        raise ValidationError(
            _("The file is too large: attach files of %(mb)s MB or less.")
            % {"mb": f"{limit / (1024 * 1024):g}"}
        )
    if data.startswith(PDF_MAGIC):
        return "application/pdf"

    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            image.verify()
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
    ) as exc:
        raise ValidationError(wrong) from exc
    if kind not in IMAGE_TYPES:
        raise ValidationError(wrong)
    return IMAGE_TYPES[kind]


def _display_name(raw: str | None) -> str:
    name = "".join(ch for ch in (raw or "") if ch.isprintable() and ch not in '\\/"')
    return name.strip()[:120]


def sending_refused(*, thread: Thread | None, author: User, patient: User) -> str | None:
    if author.is_patient:
        program = thread.program if thread is not None else selectors.patient_program(patient)
        if not selectors.patient_may_send(patient=patient, program=program):
            return _(
                "Your treatment in this program has ended, so new messages cannot be sent "
                "here. You can still read your messages. Call the clinic if you need help; "
                "in a crisis, call or text 988."
            )
    if thread is None:
        return None
    if thread.is_closed:
        return _("This conversation was closed by the care team. Start a new message instead.")
    archived = ThreadState.objects.filter(
        thread=thread, user=author, archived_at__isnull=False
    ).exists()
    if archived:
        return _("You archived this conversation. Move it back to your inbox to reply.")
    return None


def _recipients(thread: Thread, author: User) -> list[User]:
    """Who is told about a new message: the patient when staff write; when the patient
    writes, the assigned staff member, else for Clinical their primary clinician, else the
    program's clinicians; for Scheduling and Billing the staff with that function
    (``selectors.staff_for_audience``), never every clinician."""
    if not author.is_patient:
        return [thread.patient]
    if thread.assigned_to_id and thread.assigned_to.is_active:  # type: ignore[union-attr]
        return [thread.assigned_to]  # type: ignore[list-item]
    if thread.audience != Audience.CLINICAL:
        return list(selectors.staff_for_audience(program=thread.program, audience=thread.audience))
    profile = getattr(thread.patient, "patient_profile", None)
    primary = profile.primary_clinician if profile is not None else None
    if primary is not None and primary.is_active:
        return [primary]
    return list(selectors.staff_for_program(thread.program))


def _post(
    *,
    thread: Thread,
    author: User,
    body: str,
    client_id: uuid.UUID,
    upload: UploadedFile | None,
    content_type: str | None,
    now: dt.datetime,
    written: list[str],
) -> Message:
    message = Message.objects.create(
        thread=thread, author=author, body=body, client_id=client_id, created_at=now
    )
    if upload is not None and content_type is not None:
        attachment = Attachment(
            message=message,
            content_type=content_type,
            size=upload.size or 0,
            name=_display_name(upload.name),
        )
        attachment.file.save(upload.name or "attachment", upload, save=False)
        written.append(str(attachment.file.name))
        attachment.save()
    from_patient = author.pk == thread.patient_id
    thread.last_message_at = now
    thread.needs_reply = from_patient
    thread.save(update_fields=["last_message_at", "needs_reply"])
    # The author has read their own message; their read marker moves with it.
    ThreadState.objects.update_or_create(thread=thread, user=author, defaults={"last_read_at": now})
    audit_record(
        actor=author,
        action=AuditAction.CREATE,
        obj=message,
        patient=thread.patient,
        detail="message" + (" with attachment" if upload is not None else ""),
    )
    if author.is_patient and risk_phrase_match(body):
        safety_flag_raise(
            patient=thread.patient,
            program=thread.program,
            severity="high",
            source="message",
            # Ids only: the clinician opens the thread to read the message.
            reason=f"Crisis phrase in a secure message (thread {thread.pk}, message {message.pk})",
        )
    recipients = _recipients(thread, author)
    _announce(thread=thread, message=message, to={r.pk for r in recipients})
    for recipient in recipients:
        if recipient.pk == author.pk:
            continue
        notification_schedule(
            recipient=recipient,
            kind=Kind.NEW_MESSAGE,
            # One per message and recipient: a retry or a second call sends nothing new.
            event_key=f"messaging.message:{message.pk}",
            context={"link": reverse("messaging:thread", args=[thread.pk])},
        )
    return message


def _announce(*, thread: Thread, message: Message, to: set[int]) -> None:
    """Tell the participants' open pages, once the message is committed (stored before it is
    broadcast), that the thread has a new message: ids only; the page fetches it over HTTP
    with the usual access checks. Participants: the patient, whoever is told of it, the
    assigned staff member and everyone who has opened or written in the thread."""
    users = {thread.patient_id, message.author_id, *to}
    if thread.assigned_to_id:
        users.add(thread.assigned_to_id)
    users.update(ThreadState.objects.filter(thread=thread).values_list("user_id", flat=True))
    event = {
        "type": "user.event",
        "payload": {"type": "message", "thread": thread.pk, "message": message.pk, "badges": True},
    }
    for user_id in sorted(users):
        send_event_on_commit(user_group(user_id), event)


def _validated(
    *, body: object, upload: UploadedFile | None, errors: dict[str, str]
) -> tuple[str, str | None]:
    text = _clean_text(errors, "body", body, limit=BODY_MAX, label=_("message"))
    content_type = None
    if upload is not None:
        try:
            content_type = attachment_check(upload)
        except ValidationError as exc:
            errors["attachment"] = exc.messages[0]
    return text, content_type


def _files_removed_on_failure(call: Callable[[list[str]], T]) -> T:
    """Run ``call`` (an atomic service body) with a list it fills with the attachment files
    it writes; if it fails, its transaction rolled back and those files are deleted, so no
    file outlives the row that would have pointed at it. Called outside any transaction
    (the pages), the service's own commit is inside ``call``, so a failed commit is seen."""
    written: list[str] = []
    try:
        return call(written)
    except BaseException:
        _files_remove(written)
        raise


def _files_remove(names: list[str]) -> None:
    storage = private_storage_get()
    for name in names:
        try:
            storage.delete(name)
        except OSError:
            logger.warning("could not remove an attachment file after a rollback")
    names.clear()


def thread_start(
    *,
    by: User,
    patient: User | None = None,
    audience: str,
    subject: object,
    body: object,
    client_id: object,
    upload: UploadedFile | None = None,
) -> tuple[Thread, bool]:
    """Start a thread with its first message. A patient writes to their care team
    (``patient`` is themselves); staff write to a patient they may see. Returns (thread,
    created); a resend of the same form returns the thread it made."""
    return _files_removed_on_failure(
        lambda written: _thread_start(
            by=by,
            patient=patient,
            audience=audience,
            subject=subject,
            body=body,
            client_id=client_id,
            upload=upload,
            written=written,
        )
    )


@transaction.atomic
def _thread_start(
    *,
    by: User,
    patient: User | None,
    audience: str,
    subject: object,
    body: object,
    client_id: object,
    upload: UploadedFile | None,
    written: list[str],
) -> tuple[Thread, bool]:
    cid = _client_uuid(client_id)
    existing = Thread.objects.filter(created_by=by, client_id=cid).first()
    if existing is not None:
        return existing, False
    if by.is_patient:
        patient = by
    elif (
        not is_staff(by)
        or patient is None
        or not selectors.patients_for_compose(user=by).filter(pk=patient.pk).exists()
    ):
        raise MessagingForbidden
    errors: dict[str, str] = {}
    if audience not in Audience.values:
        errors["audience"] = _("Choose who the message is for.")
    subject_text = _clean_text(errors, "subject", subject, limit=SUBJECT_MAX, label=_("subject"))
    text, content_type = _validated(body=body, upload=upload, errors=errors)
    if refused := sending_refused(thread=None, author=by, patient=patient):
        errors["__all__"] = refused
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    try:
        with transaction.atomic():
            thread = Thread.objects.create(
                patient=patient,
                program=selectors.patient_program(patient),
                audience=audience,
                subject=subject_text,
                created_by=by,
                created_at=now,
                client_id=cid,
                last_message_at=now,
            )
    except IntegrityError:
        # A concurrent resend of the same form won: return its thread.
        return Thread.objects.get(created_by=by, client_id=cid), False
    if not by.is_patient:
        # Staff who start a thread own it until someone reassigns it.
        thread.assigned_to = by if by.role == "clinician" else None
        thread.save(update_fields=["assigned_to"])
    audit_record(actor=by, action=AuditAction.CREATE, obj=thread, patient=patient, detail="thread")
    _post(
        thread=thread,
        author=by,
        body=text,
        client_id=cid,
        upload=upload,
        content_type=content_type,
        now=now,
        written=written,
    )
    return thread, True


def message_post(
    *,
    author: User,
    thread_id: int,
    body: object,
    client_id: object,
    upload: UploadedFile | None = None,
) -> tuple[Message, bool]:
    """Reply in a thread the author may see. Returns (message, created); a resend (same
    client id) returns the stored message. Refused with a clear error when the thread is
    closed, archived by the author, or the patient may no longer send."""
    return _files_removed_on_failure(
        lambda written: _message_post(
            author=author,
            thread_id=thread_id,
            body=body,
            client_id=client_id,
            upload=upload,
            written=written,
        )
    )


@transaction.atomic
def _message_post(
    *,
    author: User,
    thread_id: int,
    body: object,
    client_id: object,
    upload: UploadedFile | None,
    written: list[str],
) -> tuple[Message, bool]:
    cid = _client_uuid(client_id)
    thread = (
        selectors.threads_visible_to(user=author)
        .select_for_update(of=("self",))
        .select_related("patient", "program", "assigned_to")
        .filter(pk=thread_id)
        .first()
    )
    if thread is None:
        raise MessagingForbidden
    existing = Message.objects.filter(author=author, client_id=cid).first()
    if existing is not None:
        if existing.thread_id != thread.pk:
            raise ValidationError(
                {"__all__": _("This form has expired. Reload the page and try again.")}
            )
        return existing, False
    errors: dict[str, str] = {}
    text, content_type = _validated(body=body, upload=upload, errors=errors)
    if refused := sending_refused(thread=thread, author=author, patient=thread.patient):
        errors["__all__"] = refused
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            message = _post(
                thread=thread,
                author=author,
                body=text,
                client_id=cid,
                upload=upload,
                content_type=content_type,
                now=timezone.now(),
                written=written,
            )
    except IntegrityError:
        # The savepoint rolled back: the file this attempt wrote goes with it.
        _files_remove(written)
        return Message.objects.get(author=author, client_id=cid), False
    return message, True


def _state(thread: Thread, user: User) -> ThreadState:
    state, _created = ThreadState.objects.get_or_create(thread=thread, user=user)
    return state


@transaction.atomic
def thread_read(*, thread: Thread, user: User) -> None:
    """The viewer opened the thread: audit the read and move their read marker (the other
    side's read receipt). Precondition: ``thread`` came from ``thread_get_for_viewer``."""
    ThreadState.objects.update_or_create(
        thread=thread, user=user, defaults={"last_read_at": timezone.now()}
    )
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        obj=thread,
        patient=thread.patient,
        detail="thread read",
    )


@transaction.atomic
def thread_archive(*, thread: Thread, user: User, archived: bool) -> None:
    """Archive or unarchive for this viewer only; the other side's view is unchanged."""
    state = _state(thread, user)
    state.archived_at = timezone.now() if archived else None
    state.save(update_fields=["archived_at"])
    audit_record(
        actor=user,
        action=AuditAction.UPDATE,
        obj=thread,
        patient=thread.patient,
        detail="archived" if archived else "unarchived",
    )


def _require_staff(thread: Thread, by: User) -> None:
    if not is_staff(by) or not selectors.threads_visible_to(user=by).filter(pk=thread.pk).exists():
        raise MessagingForbidden


@transaction.atomic
def thread_assign(*, thread: Thread, by: User, assignee_id: object) -> Thread:
    """Assign to one of the program's clinicians (or to nobody with an empty value)."""
    _require_staff(thread, by)
    assignee = None
    if assignee_id not in (None, ""):
        assignee = (
            selectors.staff_for_program(thread.program).filter(pk=str(assignee_id)).first()
            if str(assignee_id).isdigit()
            else None
        )
        if assignee is None:
            raise ValidationError({"assignee": _("Choose a clinician of this program.")})
    thread.assigned_to = assignee
    thread.save(update_fields=["assigned_to"])
    audit_record(
        actor=by,
        action=AuditAction.UPDATE,
        obj=thread,
        patient=thread.patient,
        detail=f"assigned to {assignee.pk}" if assignee else "unassigned",
    )
    return thread


@transaction.atomic
def thread_close(*, thread: Thread, by: User, closed: bool) -> Thread:
    """Close (no more replies; still readable) or reopen. Staff only."""
    _require_staff(thread, by)
    thread.closed_at = timezone.now() if closed else None
    if closed:
        thread.needs_reply = False
    thread.save(update_fields=["closed_at", "needs_reply"])
    audit_record(
        actor=by,
        action=AuditAction.UPDATE,
        obj=thread,
        patient=thread.patient,
        detail="closed" if closed else "reopened",
    )
    return thread


@transaction.atomic
def thread_file(*, thread: Thread, by: User) -> Thread:
    """File the thread into the patient's chart (staff see it there). Once filed it stays."""
    _require_staff(thread, by)
    updated = Thread.objects.filter(pk=thread.pk, filed_at__isnull=True).update(
        filed_at=timezone.now(), filed_by=by
    )
    thread.refresh_from_db(fields=["filed_at", "filed_by"])
    if updated:
        audit_record(
            actor=by, action=AuditAction.UPDATE, obj=thread, patient=thread.patient, detail="filed"
        )
    return thread
