"""iCalendar (RFC 5545) feeds with the icalendar library. Only what a calendar needs: the
group's name or "Appointment", times in UTC, and cancellations (STATUS:CANCELLED). No topic,
no other people's names, no clinical detail."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext
from icalendar import Calendar, Event

from apps.accounts.models import User
from apps.scheduling.models import Appointment, AppointmentStatus, Session, SessionStatus
from apps.scheduling.selectors import sessions_for_clinician, sessions_for_patient

PAST = dt.timedelta(days=60)
FUTURE = dt.timedelta(days=120)
UID_DOMAIN = "virtualiop"


def _event(
    *,
    uid: str,
    summary: str,
    start: dt.datetime,
    end: dt.datetime,
    cancelled: bool,
    stamp: dt.datetime,
    sequence: int,
    join_path: str = "",
) -> Event:
    event = Event()
    event.add("uid", f"{uid}@{UID_DOMAIN}")
    event.add("dtstamp", stamp)
    event.add("dtstart", start.astimezone(dt.UTC))
    event.add("dtend", end.astimezone(dt.UTC))
    event.add("summary", summary)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("sequence", sequence)
    if join_path and not cancelled:
        # The platform's own page (sign-in required), never a media server's address.
        link = settings.SITE_URL.rstrip("/") + join_path
        event.add("url", link)
        event.add("description", gettext("Join: %(link)s") % {"link": link})
    return event


def calendar_for_user(*, user: User, now: dt.datetime | None = None) -> bytes:
    now = now or timezone.now()
    start, end = now - PAST, now + FUTURE
    cal = Calendar()
    cal.add("prodid", f"-//{settings.CLINIC_NAME}//Virtual IOP schedule//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", str(settings.CLINIC_NAME))
    sessions: list[Session]
    appointments = Appointment.objects.none()
    if user.is_patient:
        sessions = list(sessions_for_patient(patient=user, start=start, end=end))
        appointments = Appointment.objects.filter(patient=user)
    elif user.is_clinician:
        sessions = list(sessions_for_clinician(clinician=user, start=start, end=end))
        appointments = Appointment.objects.filter(clinician=user)
    else:
        sessions = []
    for session in sessions:
        cal.add_component(
            _event(
                uid=f"session-{session.pk}",
                summary=session.group.name,
                start=session.starts_at,
                end=session.ends_at,
                cancelled=session.status == SessionStatus.CANCELLED,
                stamp=session.updated_at,
                sequence=int(session.updated_at.timestamp()) // 60 % 2_000_000_000,
                join_path=session.join_url,
            )
        )
    for appt in appointments.filter(starts_at__gte=start, starts_at__lt=end).exclude(
        status=AppointmentStatus.REQUESTED
    ):
        cal.add_component(
            _event(
                uid=f"appointment-{appt.pk}",
                summary=str(_appointment_title()),
                start=appt.starts_at,
                end=appt.ends_at,
                cancelled=appt.status == AppointmentStatus.CANCELLED,
                stamp=appt.updated_at,
                sequence=int(appt.updated_at.timestamp()) // 60 % 2_000_000_000,
                join_path=appt.join_url,
            )
        )
    return cal.to_ical()


def _appointment_title() -> str:
    return gettext("Appointment")
