"""Reads for secure messaging, and the one place that decides who may see which thread.

A patient sees their own threads; a clinician sees every thread of the patients of the
programs they work in (``accounts.selectors.patients_visible_to``); an admin sees all.
Everyone else sees nothing: callers answer 404."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import (
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)

from apps.accounts.http import is_staff
from apps.accounts.models import Role, User
from apps.accounts.selectors import patients_visible_to, program_for_patient
from apps.enrollment.models import Status as EnrollmentStatus
from apps.enrollment.selectors import application_latest_for_patient
from apps.messaging.models import Attachment, Audience, Message, Thread, ThreadState

if TYPE_CHECKING:
    from apps.programs.models import Program

FILTERS = ("all", "unread", "needs_reply", "mine", "archived")


def threads_visible_to(*, user: User) -> QuerySet[Thread]:
    if not user.is_authenticated:
        return Thread.objects.none()
    if user.is_patient:
        return Thread.objects.filter(patient=user)
    if is_staff(user):
        if user.role == "admin":
            return Thread.objects.all()
        return Thread.objects.filter(patient__in=patients_visible_to(user=user))
    return Thread.objects.none()


def thread_get_for_viewer(*, user: User, thread_id: int) -> Thread | None:
    return (
        threads_visible_to(user=user)
        .select_related("patient", "assigned_to", "program")
        .filter(pk=thread_id)
        .first()
    )


def attachment_get_for_viewer(*, user: User, attachment_id: int) -> Attachment | None:
    return (
        Attachment.objects.select_related("message__thread")
        .filter(pk=attachment_id, message__thread__in=threads_visible_to(user=user))
        .first()
    )


def _with_viewer_state(threads: QuerySet[Thread], user: User) -> QuerySet[Thread]:
    mine = ThreadState.objects.filter(thread=OuterRef("pk"), user=user)
    return threads.annotate(
        viewer_read_at=Subquery(mine.values("last_read_at")[:1]),
        viewer_archived_at=Subquery(mine.values("archived_at")[:1]),
    )


def _unread_q() -> Q:
    return Q(viewer_read_at__isnull=True) | Q(viewer_read_at__lt=F("last_message_at"))


def inbox(*, user: User, which: str = "all") -> QuerySet[Thread]:
    """The viewer's threads, newest first, each annotated with the viewer's read and
    archive state (``viewer_read_at``, ``viewer_archived_at``). A fixed number of queries
    whatever the length (pinned by a test)."""
    threads = _with_viewer_state(threads_visible_to(user=user), user).select_related(
        "patient", "assigned_to"
    )
    if which == "archived":
        return threads.filter(viewer_archived_at__isnull=False)  # type: ignore[misc]
    threads = threads.filter(viewer_archived_at__isnull=True)  # type: ignore[misc]
    if which == "unread":
        threads = threads.filter(_unread_q())
    elif which == "needs_reply":
        threads = threads.filter(needs_reply=True, closed_at__isnull=True)
    elif which == "mine":
        threads = threads.filter(assigned_to=user)
    return threads


def unread_count(*, user: User) -> int:
    return inbox(user=user, which="unread").count()


def thread_messages(*, thread: Thread, after_id: int = 0) -> list[Message]:
    """The thread's messages, oldest first; ``after_id``: only those stored after that one
    (ids grow with time: a page that saw message N asks for what came after N)."""
    return list(
        Message.objects.filter(thread=thread, pk__gt=after_id)
        .select_related("author")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("id")))
    )


def other_side_read_at(*, thread: Thread, viewer: User) -> object:
    """The read receipt: when the other side last read. For the patient, the latest read by
    any staff member; for staff, the patient's."""
    states = ThreadState.objects.filter(thread=thread, last_read_at__isnull=False)
    if viewer.pk == thread.patient_id:
        states = states.exclude(user_id=thread.patient_id)
    else:
        states = states.filter(user_id=thread.patient_id)
    latest = states.order_by("-last_read_at").values_list("last_read_at", flat=True).first()
    return latest


def patient_is_discharged(patient: User) -> bool:
    latest = application_latest_for_patient(patient=patient)
    return latest is not None and latest.status == EnrollmentStatus.DISCHARGED


def patient_may_send(*, patient: User, program: Program | None) -> bool:
    """A discharged patient reads their threads; sending follows the program's setting."""
    if not patient_is_discharged(patient):
        return True
    return bool(program and program.messaging_after_discharge)


def patient_program(patient: User) -> Program | None:
    return program_for_patient(user=patient)


def staff_for_program(program: Program | None) -> QuerySet[User]:
    if program is None:
        return User.objects.none()
    return User.objects.filter(
        program_staff__program=program, is_active=True, role="clinician"
    ).order_by("full_name")


# The staff function (``ProgramStaff``) that answers each non-clinical audience.
AUDIENCE_FUNCTION: dict[str, str] = {Audience.SCHEDULING: "front_desk", Audience.BILLING: "billing"}


def staff_for_audience(*, program: Program | None, audience: str) -> QuerySet[User]:
    """Who is told of a Scheduling or Billing thread no one is assigned to: the program's
    active staff with that function (``ProgramStaff.front_desk`` / ``billing``); when
    nobody has it, the program's admins; when it has none, every active admin (they run
    every program). Never the program's clinicians as a whole."""
    function = AUDIENCE_FUNCTION.get(audience)
    if program is None or function is None:
        return User.objects.none()
    active = User.objects.filter(is_active=True).order_by("full_name")
    chosen = active.filter(program_staff__program=program, **{f"program_staff__{function}": True})
    if chosen.exists():
        return chosen
    admins = active.filter(role=Role.ADMIN, program_staff__program=program)
    if admins.exists():
        return admins
    return active.filter(role=Role.ADMIN)


def patients_for_compose(*, user: User) -> QuerySet[User]:
    return patients_visible_to(user=user).order_by("full_name")


def filed_threads(*, patient: User) -> QuerySet[Thread]:
    return (
        Thread.objects.filter(patient=patient, filed_at__isnull=False)
        .select_related("filed_by")
        .order_by("-filed_at")
    )
