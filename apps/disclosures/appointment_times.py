"""Appointment times for a family member under a release of information.

A patient's release may let the program tell the person it names their appointment times
(``ReleaseOfInformation.may_receive_appointment_times``, with ``recipient_email``). While it
is active, that person gets one e-mail per upcoming appointment or group session, a day
ahead, saying only the patient's first name and the time. Each e-mail is a disclosure under
the release, logged once, at the moment it is handed to the mail provider, with the
42 CFR 2.32 notice where Part 2 applies (in the e-mail too).

Through the notifications outbox (``apps.notifications.outside``): the row's recipient is
the patient (their zone, first name and active account; not their preferences), the planner
and the send-time guard are registered here, and the last check runs at hand-over under the
release's row lock, which ``consent_revoke`` and ``release_event_confirm`` also take: a
revocation committed before the hand-over stops the e-mail and its disclosure.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict

from django.utils import timezone

from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.disclosures.models import Disclosure, DisclosureKind
from apps.enrollment.models import PART2_NOTICE, ReleaseOfInformation
from apps.enrollment.selectors import release_state
from apps.notifications import guards, outside
from apps.notifications.models import Channel, Kind, Outbox
from apps.notifications.planning import (
    PLAN_AHEAD,
    existing_keys,
    parse_start_stamp,
    register_planner,
    start_stamp,
)
from apps.notifications.rendering import local_day_text, local_time_text, user_zone
from apps.notifications.services import notification_schedule
from apps.scheduling.models import (
    Appointment,
    AppointmentStatus,
    GroupMembership,
    MembershipStatus,
    Session,
    SessionStatus,
)
from apps.scheduling.reminders import appointment_reminder_stale, session_reminder_stale

# One e-mail per appointment, this long before it (sent at once if the release is signed
# later than that, as long as the appointment is still MIN_NOTICE away).
LEAD = dt.timedelta(hours=24)
MIN_NOTICE = dt.timedelta(minutes=30)
PREFIX = "disclosures.release:"
_KEY = re.compile(
    r"^disclosures\.release:(?P<release>\d+)/(?P<what>session|appointment):(?P<id>\d+)"
    r"@(?P<stamp>\d{8}T\d{4}Z)$"
)


def times_key(release_id: int, what: str, object_id: int, starts_at: dt.datetime) -> str:
    return f"{PREFIX}{release_id}/{what}:{object_id}@{start_stamp(starts_at)}"


def _sending_releases() -> list[ReleaseOfInformation]:
    """Active releases that allow appointment times and say where to send them."""
    candidates = (
        ReleaseOfInformation.objects.filter(
            may_receive_appointment_times=True,
            signed_at__isnull=False,
            event_happened_on__isnull=True,
            patient__is_active=True,
        )
        .exclude(recipient_email="")
        .select_related("patient", "revocation")
    )
    return [r for r in candidates if release_state(r) == "active"]


def plan_family_times(*, now: dt.datetime) -> int:
    releases = _sending_releases()
    if not releases:
        return 0
    earliest, horizon = now + MIN_NOTICE, now + LEAD + PLAN_AHEAD
    patient_ids = {r.patient_id for r in releases}
    seats: dict[int, list[tuple[int, dt.date, dt.date | None]]] = defaultdict(list)
    for patient_id, group_id, from_date, to_date in GroupMembership.objects.filter(
        patient_id__in=patient_ids, status=MembershipStatus.ACTIVE
    ).values_list("patient_id", "group_id", "from_date", "to_date"):
        seats[patient_id].append((group_id, from_date, to_date))
    sessions: dict[int, list[Session]] = defaultdict(list)
    for session in Session.objects.filter(
        group_id__in={g for rows in seats.values() for g, _f, _t in rows},
        status=SessionStatus.SCHEDULED,
        starts_at__gt=earliest,
        starts_at__lte=horizon,
    ).only("pk", "group_id", "occurrence_date", "starts_at"):
        sessions[session.group_id].append(session)
    appointments: dict[int, list[Appointment]] = defaultdict(list)
    for appt in Appointment.objects.filter(
        patient_id__in=patient_ids,
        status=AppointmentStatus.BOOKED,
        starts_at__gt=earliest,
        starts_at__lte=horizon,
    ).only("pk", "patient_id", "starts_at"):
        appointments[appt.patient_id].append(appt)
    existing = existing_keys(PREFIX, now - dt.timedelta(days=8))
    created = 0
    for release in releases:
        events: list[tuple[str, int, dt.datetime]] = [
            ("session", s.pk, s.starts_at)
            for group_id, from_date, to_date in seats[release.patient_id]
            for s in sessions[group_id]
            if from_date <= s.occurrence_date and (to_date is None or s.occurrence_date <= to_date)
        ]
        events += [("appointment", a.pk, a.starts_at) for a in appointments[release.patient_id]]
        for what, object_id, starts_at in events:
            key = times_key(release.pk, what, object_id, starts_at)
            # Once per key, whatever became of the row (a cancelled one is not revived).
            if (release.patient_id, key, Kind.FAMILY_TIMES) in existing:
                continue
            created += len(
                notification_schedule(
                    recipient=release.patient,
                    kind=Kind.FAMILY_TIMES,
                    event_key=key,
                    context={
                        "starts_at": starts_at,
                        "release_id": release.pk,
                        f"{what}_id": object_id,
                    },
                    due_at=max(starts_at - LEAD, now),
                    channels=[Channel.EMAIL],
                )
            )
    return created


def _release_for(row: Outbox, *, lock: bool = False) -> ReleaseOfInformation | None:
    match = _KEY.match(row.event_key)
    if match is None:
        return None
    releases = ReleaseOfInformation.objects.select_related("patient", "revocation")
    if lock:
        releases = releases.select_for_update(of=("self",))
    release = releases.filter(pk=int(match["release"])).first()
    if release is None or release.patient_id != row.recipient_id:
        return None
    return release


def _release_stops(release: ReleaseOfInformation | None) -> str | None:
    if release is None:
        return "release not found"
    state = release_state(release)
    if state != "active":
        return f"release {state}"
    if not release.may_receive_appointment_times or not release.recipient_email:
        return "release does not allow appointment times"
    return None


def _event_stops(row: Outbox) -> str | None:
    match = _KEY.match(row.event_key)
    if match is None:
        return "unknown event"
    stamp = parse_start_stamp(match["stamp"])
    if match["what"] == "appointment":
        return appointment_reminder_stale(
            appointment_id=int(match["id"]), patient_id=row.recipient_id, stamp=stamp
        )
    return session_reminder_stale(
        session_id=int(match["id"]), patient_id=row.recipient_id, stamp=stamp
    )


def family_times_guard(row: Outbox) -> str | None:
    """Send time: the release still allows it and the appointment is still at that time."""
    if row.kind != Kind.FAMILY_TIMES:
        return None
    return _release_stops(_release_for(row)) or _event_stops(row)


def family_times_address(row: Outbox) -> str | None:
    release = _release_for(row)
    return release.recipient_email if release is not None else None


def family_times_notice(row: Outbox) -> list[str]:
    release = _release_for(row)
    return [str(PART2_NOTICE)] if release is not None and release.is_part2 else []


def family_times_hand_over(row: Outbox) -> str | None:
    """In the hand-over's transaction: under the release's row lock, stop if it is no
    longer active (revoked, expired), else log the disclosure, once per outbox row (a
    retried send finds it)."""
    release = _release_for(row, lock=True)
    if reason := _release_stops(release):
        return reason
    match = _KEY.match(row.event_key)
    assert release is not None and match is not None  # _release_for matched the key
    starts = parse_start_stamp(match["stamp"])
    zone = user_zone(release.patient)
    disclosure, created = Disclosure.objects.get_or_create(
        source_key=f"outbox:{row.pk}",
        defaults={
            "patient": release.patient,
            "release": release,
            "recipient": release.recipient_name,
            "kind": DisclosureKind.APPOINTMENT_TIMES,
            "description": f"E-mail with the time of one appointment: "
            f"{local_day_text(starts, zone)}, {local_time_text(starts, zone)}",
            "method": "e-mail",
            "disclosed_at": timezone.now(),
            "by": None,
            "part2_notice": str(PART2_NOTICE) if release.is_part2 else "",
        },
    )
    if created:
        audit_record(
            actor=None,
            action=AuditAction.CREATE,
            obj=disclosure,
            patient=release.patient,
            detail="disclosure sent (appointment_times)",
        )
    return None


def register() -> None:
    register_planner("family_times", plan_family_times)
    guards.register(name="family_times", prefix=PREFIX, guard=family_times_guard)
    outside.register(
        kind=Kind.FAMILY_TIMES,
        address=family_times_address,
        at_hand_over=family_times_hand_over,
        extra_lines=family_times_notice,
    )
