"""The words of each notification, rendered at send time in the recipient's time zone.

Privacy (DESIGN.md, issue 7): e-mail and SMS say no more than a first name, a time and a
link — "Your group starts at 6:00 PM (Pacific). Join: <link>". No diagnosis, scores, group
topic, homework content or message text, ever; the link leads to the signed-in app.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.utils import formats
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _l

from apps.notifications import conf
from apps.notifications.models import Kind

if TYPE_CHECKING:
    from apps.accounts.models import User

# Friendly names for the zones our patients live in; others show the abbreviation (CET…).
ZONE_NAMES = {
    "America/Los_Angeles": "Pacific",
    "America/Vancouver": "Pacific",
    "America/Denver": "Mountain",
    "America/Boise": "Mountain",
    "America/Phoenix": "Arizona",
    "America/Chicago": "Central",
    "America/New_York": "Eastern",
    "America/Detroit": "Eastern",
    "America/Anchorage": "Alaska",
    "Pacific/Honolulu": "Hawaii",
    "America/Puerto_Rico": "Atlantic",
    "UTC": "UTC",
}


def user_zone(user: User) -> zoneinfo.ZoneInfo:
    tz = getattr(user, "time_zone", None)
    if isinstance(tz, zoneinfo.ZoneInfo):
        return tz
    try:
        return zoneinfo.ZoneInfo(str(tz or "UTC"))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def zone_label(zone: zoneinfo.ZoneInfo, at: dt.datetime) -> str:
    return ZONE_NAMES.get(zone.key, at.astimezone(zone).tzname() or zone.key)


def local_time_text(at: dt.datetime, zone: zoneinfo.ZoneInfo) -> str:
    """'6:00 PM (Pacific)' in ``zone``."""
    local = at.astimezone(zone)
    return f"{formats.date_format(local, 'g:i A')} ({zone_label(zone, at)})"


def local_day_text(at: dt.datetime, zone: zoneinfo.ZoneInfo) -> str:
    """'Tuesday, November 24' in ``zone``."""
    return formats.date_format(at.astimezone(zone), "l, F j")


def absolute_link(link: str | None) -> str:
    if not link:
        return f"{conf.site_url()}/notifications/"
    if link.startswith(("http://", "https://")):
        return link
    return f"{conf.site_url()}/{link.lstrip('/')}"


@dataclass
class Message:
    subject: str
    lines: list[str]
    link: str
    link_label: str
    title: str
    body: str
    sms: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _when(payload: dict[str, Any], key: str) -> dt.datetime | None:
    raw = payload.get(key)
    return parse_datetime(raw) if isinstance(raw, str) else None


def render(*, kind: str, recipient: User, payload: dict[str, Any]) -> Message:
    zone = user_zone(recipient)
    first = recipient.first_name_display
    link = absolute_link(payload.get("link"))
    starts = _when(payload, "starts_at")
    old_starts = _when(payload, "old_starts_at")
    due_raw = payload.get("due_on")
    due = parse_date(due_raw) if isinstance(due_raw, str) else None
    time_text = local_time_text(starts, zone) if starts else ""
    day_text = local_day_text(starts, zone) if starts else ""
    due_text = formats.date_format(due, "l, F j") if due else ""
    hello = _("Hi %(name)s,") % {"name": first}
    open_label = _("Open Virtual IOP")

    if kind == Kind.SESSION_REMINDER:
        body = _("Your group starts at %(time)s on %(day)s.") % {"time": time_text, "day": day_text}
        return Message(
            subject=_("Reminder: your group starts at %(time)s") % {"time": time_text},
            lines=[hello, body],
            link=link,
            link_label=_("Join"),
            title=_("Group at %(time)s") % {"time": time_text},
            body=body,
            sms=_("Your group starts at %(time)s. Join: %(link)s")
            % {"time": time_text, "link": link},
        )
    if kind == Kind.APPOINTMENT_REMINDER:
        body = _("Your appointment starts at %(time)s on %(day)s.") % {
            "time": time_text,
            "day": day_text,
        }
        return Message(
            subject=_("Reminder: your appointment starts at %(time)s") % {"time": time_text},
            lines=[hello, body],
            link=link,
            link_label=_("Join"),
            title=_("Appointment at %(time)s") % {"time": time_text},
            body=body,
            sms=_("Your appointment starts at %(time)s. Join: %(link)s")
            % {"time": time_text, "link": link},
        )
    if kind == Kind.INTAKE_SCHEDULED:
        body = _(
            "Your intake appointment is at %(time)s on %(day)s. It is a video visit: join from "
            "the link a few minutes before."
        ) % {"time": time_text, "day": day_text}
        return Message(
            subject=_("Your intake appointment: %(day)s at %(time)s")
            % {"day": day_text, "time": time_text},
            lines=[hello, body],
            link=link,
            link_label=_("See your application"),
            title=_("Intake at %(time)s") % {"time": time_text},
            body=body,
            sms=_("Your intake is at %(time)s on %(day)s. %(link)s")
            % {"time": time_text, "day": day_text, "link": link},
        )
    if kind == Kind.ADMITTED:
        start_raw = payload.get("start_on")
        start = parse_date(start_raw) if isinstance(start_raw, str) else None
        start_text = formats.date_format(start, "l, F j") if start else ""
        body = _("Welcome: you are admitted to the program, starting %(day)s.") % {
            "day": start_text
        }
        if payload.get("group_id"):
            body += " " + _("Your group times are on My week.")
        return Message(
            subject=_("You are admitted"),
            lines=[hello, body],
            link=link,
            link_label=_("See your week"),
            title=_("You are admitted"),
            body=body,
            sms=f"{body} {link}",
        )
    if kind == Kind.SEAT_OFFERED:
        # Never the group's name or kind (it can say what the patient is treated for).
        expires = _when(payload, "expires_at")
        if expires:
            body = _(
                "A seat in a group is open for you. Accept or decline it by %(time)s on %(day)s."
            ) % {"time": local_time_text(expires, zone), "day": local_day_text(expires, zone)}
        else:
            body = _("A seat in a group is open for you. Accept or decline it soon.")
        return Message(
            subject=_("A group seat is open for you"),
            lines=[hello, body],
            link=link,
            link_label=_("See the offer"),
            title=_("A group seat is open for you"),
            body=body,
            sms=f"{body} {link}",
        )
    if kind == Kind.SESSION_CANCELLED:
        body = (
            _("Your session on %(day)s at %(time)s is cancelled.")
            % {"day": day_text, "time": time_text}
            if starts
            else _("One of your sessions is cancelled.")
        )
        return Message(
            subject=_("Session cancelled"),
            lines=[hello, body],
            link=link,
            link_label=_("See your week"),
            title=_("Session cancelled"),
            body=body,
            sms=f"{body} {link}",
        )
    if kind == Kind.SESSION_CHANGED:
        if starts:
            body = _("Your session now starts at %(time)s on %(day)s.") % {
                "time": time_text,
                "day": day_text,
            }
            if old_starts:
                body += " " + _("(It was %(old)s on %(oldday)s.)") % {
                    "old": local_time_text(old_starts, zone),
                    "oldday": local_day_text(old_starts, zone),
                }
        else:
            body = _("One of your sessions has changed.")
        return Message(
            subject=_("Session time changed"),
            lines=[hello, body],
            link=link,
            link_label=_("See your week"),
            title=_("Session changed"),
            body=body,
            sms=f"{body} {link}",
        )
    if kind in (Kind.HOMEWORK_ASSIGNED, Kind.HOMEWORK_DUE, Kind.HOMEWORK_OVERDUE):
        if kind == Kind.HOMEWORK_ASSIGNED:
            subject = _("You have new homework")
            body = _("Your clinician assigned you new homework.")
        elif kind == Kind.HOMEWORK_DUE:
            subject = _("Homework due tomorrow")
            body = _("Your homework is due tomorrow, %(day)s.") % {"day": due_text}
        else:
            subject = _("Homework overdue")
            body = _("Your homework was due on %(day)s. You can still do it.") % {"day": due_text}
        return Message(
            subject=subject,
            lines=[hello, body],
            link=link,
            link_label=_("Open homework"),
            title=subject,
            body=body,
            sms=f"{body} {link}",
        )
    if kind == Kind.HOMEWORK_FEEDBACK:
        body = _("Your clinician reviewed your homework.")
        return Message(
            subject=_("Feedback on your homework"),
            lines=[hello, body],
            link=link,
            link_label=_("Read the feedback"),
            title=_("Feedback on your homework"),
            body=body,
            sms=f"{body} {link}",
        )
    if kind == Kind.FAMILY_TIMES:
        # To the person the patient named in a release, not to the patient: the patient's
        # first name and the time, nothing else (not the kind of session, not the clinician),
        # and no link (they have no account).
        body = _("%(name)s has a scheduled appointment on %(day)s at %(time)s.") % {
            "name": first,
            "day": day_text,
            "time": time_text,
        }
        return Message(
            subject=_("%(name)s's appointment: %(day)s at %(time)s")
            % {"name": first, "day": day_text, "time": time_text},
            lines=[
                _("Hello,"),
                body,
                _(
                    "You receive this because %(name)s agreed to share their appointment times "
                    "with you. If it reached you by mistake, please delete it."
                )
                % {"name": first},
            ],
            link="",
            link_label="",
            title=body,
            body=body,
        )
    if kind in _STATIC:
        return _static_message(_STATIC[kind], hello=hello, link=link, payload=payload)
    return _static_message(
        _StaticText(
            _l("New notification"), _l("You have a new notification."), None, _l("New notification")
        ),
        hello=hello,
        link=link,
        payload=payload,
        link_label=open_label,
    )


@dataclass(frozen=True)
class _StaticText:
    """A kind whose text carries nothing but the recipient's first name and a link.
    ``urgent``: "" (no flag), "always", or "payload" (taken from the payload)."""

    subject: Any
    body: Any
    link_label: Any
    title: Any
    urgent: str = ""


_STATIC: dict[str, _StaticText] = {
    # Secure messaging: never the text, the sender or the topic, only that one is waiting.
    Kind.NEW_MESSAGE: _StaticText(
        _l("You have a new message"),
        _l("You have a new message."),
        _l("Read it"),
        _l("New message"),
    ),
    Kind.CHECKIN_NUDGE: _StaticText(
        _l("Your daily check-in"),
        _l("Time for your daily check-in. It takes a minute."),
        _l("Check in"),
        _l("Daily check-in"),
    ),
    Kind.SAFETY_ALERT: _StaticText(
        _l("Safety flag: review needed"),
        _l("A patient's safety flag needs your review today."),
        _l("Review"),
        _l("Safety flag: review needed"),
        urgent="payload",
    ),
    Kind.SAFETY_ESCALATION: _StaticText(
        _l("On call: unacknowledged safety flag"),
        _l("A safety flag has not been acknowledged for 30 minutes. You are on call."),
        _l("Review"),
        _l("Unacknowledged safety flag"),
        urgent="always",
    ),
    Kind.NO_SHOW: _StaticText(
        _l("Missed session"),
        _l("A patient missed a session without an excuse."),
        _l("See attendance"),
        _l("Missed session"),
    ),
    Kind.HOURS_BELOW_FLOOR: _StaticText(
        _l("Weekly hours below the floor"),
        _l("A patient is below the program's weekly hours so far this week."),
        _l("See the patient"),
        _l("Below weekly hours"),
    ),
}


def _static_message(
    text: _StaticText,
    *,
    hello: str,
    link: str,
    payload: dict[str, Any],
    link_label: str | None = None,
) -> Message:
    body = str(text.body)
    extra: dict[str, Any] = {}
    if text.urgent == "always":
        extra["urgent"] = True
    elif text.urgent == "payload":
        extra["urgent"] = bool(payload.get("urgent"))
    return Message(
        subject=str(text.subject),
        lines=[hello, body],
        link=link,
        link_label=link_label if link_label is not None else str(text.link_label),
        title=str(text.title),
        body=body,
        sms=f"{body} {link}",
        extra=extra,
    )
