"""Demo notification settings and a few in-app notifications. Idempotent.

patient1 has quiet hours 22:00-07:00, reminders 24 h and 1 h before and a 09:00 check-in
nudge; clinician1 is on call for adult-iop. To see a live reminder, run
``manage.py notifications_demo_reminder`` (a session 61 minutes from now for patient1).
"""

from __future__ import annotations

import datetime as dt
from typing import TextIO

from django.urls import reverse

from apps.accounts.models import User
from apps.notifications.models import Kind, Notification, NotificationSettings

WELCOME = [  # the last item is the URL name of the link
    (Kind.GENERAL, "Welcome to Virtual IOP", "Your notifications appear here.", "home"),
    (
        Kind.HOMEWORK_ASSIGNED,
        "You have new homework",
        "Your clinician assigned you new homework.",
        "homework:index",
    ),
]


def seed(stdout: TextIO) -> None:
    patients = list(User.objects.filter(email__endswith="@demo.test", role="patient"))
    for user in patients:
        defaults: dict[str, object] = {
            "quiet_start": dt.time(22, 0),
            "quiet_end": dt.time(7, 0),
            "reminder_leads_minutes": [24 * 60, 60],
        }
        if user.email == "patient1@demo.test":
            defaults["checkin_time"] = dt.time(9, 0)
        NotificationSettings.objects.get_or_create(user=user, defaults=defaults)
        for kind, title, body, url_name in WELCOME:
            Notification.objects.get_or_create(
                recipient=user,
                kind=kind,
                title=title,
                defaults={"body": body, "link": reverse(url_name)},
            )
    staff = list(User.objects.filter(email__endswith="@demo.test", role="clinician"))
    for user in staff:
        NotificationSettings.objects.get_or_create(user=user, defaults={})
        Notification.objects.get_or_create(
            recipient=user,
            kind=Kind.GENERAL,
            title="Welcome to Virtual IOP",
            defaults={"body": "Safety alerts and no-shows appear here.", "link": reverse("home")},
        )
    on_call = User.objects.filter(email="clinician1@demo.test").first()
    if on_call is not None:
        on_call.program_staff.filter(program__slug="adult-iop").update(on_call=True)
    stdout.write(
        f"notifications: settings for {len(patients)} patients and {len(staff)} clinicians\n"
    )
