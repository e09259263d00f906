"""Authorization notices: at 80% used and in the last 7 days of the window, the program's
staff get a notice (once per authorization and reason: the dedupe key says which). The text
carries no patient detail; the link opens the billing page filtered by patient id."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.core.cache import cache
from django.urls import reverse
from django.utils.http import urlencode

from apps.billing import selectors
from apps.billing.models import Authorization
from apps.notifications.models import Kind
from apps.notifications.planning import register_planner
from apps.notifications.services import notification_schedule
from apps.programs.models import Program, ProgramStaff

# Usage is recomputed from the record (a billable-days pass per program); the planner runs
# every minute, so this work claims itself at most once an hour.
CLAIM_KEY = "billing:authorization-notices"
CLAIM_SECONDS = 3600


def plan_authorization_notices(*, now: dt.datetime) -> int:
    if not cache.add(CLAIM_KEY, 1, timeout=CLAIM_SECONDS):
        return 0
    return authorization_notices_send(now=now)


def authorization_notices_send(*, now: dt.datetime) -> int:
    today = now.date()
    live = Authorization.objects.filter(start_date__lte=today, end_date__gte=today).select_related(
        "patient__patient_profile__program"
    )
    by_program: dict[int, list[Authorization]] = defaultdict(list)
    programs: dict[int, Program] = {}
    for a in live:
        program = getattr(a.patient.patient_profile, "program", None)
        if program is None:
            continue
        programs[program.pk] = program
        by_program[program.pk].append(a)
    created = 0
    for program_id, auths in by_program.items():
        program = programs[program_id]
        result = selectors.billable_days(
            program=program,
            start=min(a.start_date for a in auths),
            end=today,
            patient_ids={a.patient_id for a in auths},
            now=now,
        )
        staff = [
            s.user
            for s in ProgramStaff.objects.filter(
                program=program, user__is_active=True
            ).select_related("user")
        ]
        for uses in result.authorizations.values():
            for use in uses:
                a = use.authorization
                reasons = []
                if use.fraction >= selectors.WARN_USED_FRACTION:
                    reasons.append("used80")
                if a.end_date - dt.timedelta(days=selectors.WARN_DAYS_BEFORE_END) <= today:
                    reasons.append("ending")
                query = urlencode({"program": program.pk, "patient": a.patient_id})
                link = f"{reverse('billing:home')}?{query}"
                for reason in reasons:
                    for user in staff:
                        created += len(
                            notification_schedule(
                                recipient=user,
                                kind=Kind.GENERAL,
                                event_key=f"billing.authorization:{a.pk}/{reason}",
                                context={
                                    "patient_id": a.patient_id,
                                    "program_id": program.pk,
                                    "link": link,
                                },
                                due_at=now,
                                channels=["in_app"],
                            )
                        )
    return created


def register() -> None:
    register_planner("billing_authorizations", plan_authorization_notices)
