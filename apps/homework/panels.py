"""Dashboard panels (the patient's open homework; the clinician's review queue) and the
homework card on scheduling's session page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.http import HttpRequest

from apps.core.fragments import user_scope
from apps.core.nav import PanelCache, PanelResult
from apps.homework import selectors

if TYPE_CHECKING:
    from apps.scheduling.models import Session


def _patient_scopes(request: HttpRequest) -> list[str]:
    # Assignments point at the patient; the steps done are counted from responses, which
    # point at the assignment only; module titles and step counts are shared content.
    return [
        user_scope(request.user),
        "homework.response",
        "homework.module",
        "homework.moduleversion",
    ]


PATIENT_CACHE = PanelCache(scopes=_patient_scopes)


def patient_panel(request: HttpRequest) -> PanelResult:
    user = request.user
    if not user.is_authenticated or user.role != "patient":
        return None
    return (
        "homework/panels/patient.html",
        {"assignments": selectors.patient_homework_open(patient=user, limit=4)},
    )


def clinician_panel(request: HttpRequest) -> PanelResult:
    user = request.user
    if not selectors.is_reviewer(user):  # type: ignore[arg-type]
        return None
    queue = selectors.reviewer_queue(user=user)  # type: ignore[arg-type]
    return ("homework/panels/clinician.html", {"queue": list(queue[:5]), "total": queue.count()})


def session_section(request: HttpRequest, session: Session) -> tuple[str, dict[str, Any]] | None:
    """ "Homework after this session" on the staff session page: the topic's module as a
    suggestion, and where to assign it (the group, or one member). The session page has
    decided the viewer may see the session; only clinicians assign homework."""
    if not selectors.is_reviewer(request.user):  # type: ignore[arg-type]
        return None
    return (
        "homework/partials/session_section.html",
        {
            "suggested": selectors.module_suggested_for_session(session=session),
            "members": selectors.group_active_members(group=session.group),
        },
    )
