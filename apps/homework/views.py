"""Homework pages. Thin: parse, call one selector or service, render. Access is decided by
the selectors (None → 404); services re-check before writing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.http import AuthenticatedHttpRequest
from apps.accounts.models import User
from apps.accounts.selectors import patient_get_for_viewer, patients_visible_to
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.core.params import query_int
from apps.homework import selectors, services
from apps.homework.forms import AssignForm, FeedbackForm
from apps.homework.models import OPEN_STATUSES, Assignment, AssignmentStatus, Response
from apps.homework.presentation import progress, step_view, step_views
from apps.homework.schema import PracticeLogStep
from apps.scheduling.selectors import group_get_for_staff, groups_visible_to, session_get_for_staff


def _patient_assignment(request: AuthenticatedHttpRequest, assignment_id: int) -> Assignment:
    assignment = selectors.assignment_get_for_patient(
        user=request.user, assignment_id=assignment_id
    )
    if assignment is None:
        raise Http404(_("No such homework."))
    return assignment


def _reviewer_assignment(request: AuthenticatedHttpRequest, assignment_id: int) -> Assignment:
    assignment = selectors.assignment_get_for_reviewer(
        user=request.user, assignment_id=assignment_id
    )
    if assignment is None:
        raise Http404(_("No such homework."))
    return assignment


def _require_reviewer(request: AuthenticatedHttpRequest) -> User:
    user = request.user
    if not selectors.is_reviewer(user):
        raise Http404
    return user


# --- Patient ----------------------------------------------------------------------------


@login_required
@require_GET
def my_homework(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    if selectors.is_reviewer(user):
        return redirect("homework:review")
    if not user.is_patient:
        raise Http404
    assignments = list(selectors.patient_homework(patient=user))
    open_modules = {a.module_id for a in assignments if a.status in OPEN_STATUSES}
    audit_record(actor=user, action=AuditAction.VIEW, object_type="homework.list", patient=user)
    return render(
        request,
        "homework/my_homework.html",
        {
            "open_assignments": [a for a in assignments if a.status in OPEN_STATUSES],
            "done_assignments": [a for a in assignments if a.status not in OPEN_STATUSES],
            "modules": [m for m in selectors.modules_published() if m.pk not in open_modules],
        },
    )


@login_required
@require_POST
def module_start(request: AuthenticatedHttpRequest, module_id: int) -> HttpResponse:
    user = request.user
    module = selectors.modules_published().filter(pk=module_id).first()
    if module is None or not user.is_patient:
        raise Http404(_("No such module."))
    assignment = services.assignment_self_start(patient=user, module=module)
    return redirect("homework:work", assignment_id=assignment.pk)


def _work_context(assignment: Assignment) -> dict[str, Any]:
    views = step_views(assignment)
    return {
        "assignment": assignment,
        "module": assignment.module_version.spec,
        "steps": views,
        "progress": progress(views),
        "locked": assignment.is_locked,
        "feedback": list(assignment.feedback.select_related("author")),
    }


@login_required
@require_GET
def assignment_work(request: AuthenticatedHttpRequest, assignment_id: int) -> HttpResponse:
    assignment = _patient_assignment(request, assignment_id)
    services.assignment_open(assignment=assignment, user=request.user)
    return render(request, "homework/work.html", _work_context(assignment))


def _seq(request: HttpRequest) -> int | None:
    raw = request.POST.get("seq", "")
    try:
        seq = int(raw)
    except (TypeError, ValueError):
        return None
    return seq if 0 < seq < 2**62 else None


def _progress_of(assignment: Assignment) -> dict[str, int]:
    done = Response.objects.filter(assignment=assignment, complete=True).count()
    total = assignment.module_version.step_count
    return {"done": done, "total": total, "percent": round(100 * done / total) if total else 0}


def _error_response(request: HttpRequest, exc: services.HomeworkError) -> HttpResponse:
    return render(
        request,
        "homework/partials/save_state.html",
        {"error": exc.message},
        status=exc.status,
    )


@login_required
@require_POST
def step_save(request: AuthenticatedHttpRequest, assignment_id: int, step_id: str) -> HttpResponse:
    """Autosave one step (htmx) or save it from the plain form (no JavaScript)."""
    assignment = _patient_assignment(request, assignment_id)
    try:
        result = services.response_save(
            assignment=assignment,
            user=request.user,
            step_id=step_id,
            data=request.POST,
            seq=_seq(request),
        )
    except services.HomeworkError as exc:
        if request.htmx:
            return _error_response(request, exc)
        messages.error(request, exc.message)
        if exc.status == 404:
            raise Http404(exc.message) from exc
        return redirect(reverse("homework:work", args=[assignment.pk]) + f"#step-{step_id}")
    if not request.htmx:
        messages.success(request, _("Saved."))
        return redirect(reverse("homework:work", args=[assignment.pk]) + f"#step-{step_id}")
    step = assignment.module_version.spec.step(step_id)
    assert step is not None  # response_save raised otherwise
    view = step_view(step, 0, result.response)
    return render(
        request,
        "homework/partials/save_state.html",
        {
            "saved_at": result.response.updated_at,
            "view": view,
            "progress": _progress_of(assignment),
            "assignment": assignment,
        },
    )


def _log_block(
    request: HttpRequest,
    assignment: Assignment,
    step: PracticeLogStep,
    *,
    error: str = "",
    posted: Any = None,
    status: int = 200,
) -> HttpResponse:
    response = Response.objects.filter(assignment=assignment, step_id=step.id).first()
    number = [s.id for s in assignment.module_version.spec.steps].index(step.id) + 1
    view = step_view(step, number, response)
    if posted is not None:
        # Keep what was typed (and its entry id, so a corrected retry is still one entry).
        view.new_entry_id = posted.get("entry_id") or view.new_entry_id
    return render(
        request,
        "homework/partials/log_block.html",
        {
            "view": view,
            "assignment": assignment,
            "locked": assignment.is_locked,
            "error": error,
            "posted": posted,
            "progress": _progress_of(assignment),
            "oob": True,
        },
        status=status,
    )


def _log_step_or_404(assignment: Assignment, step_id: str) -> PracticeLogStep:
    step = assignment.module_version.spec.step(step_id)
    if not isinstance(step, PracticeLogStep):
        raise Http404(_("This step has no practice log."))
    return step


@login_required
@require_POST
def log_entry_add_view(
    request: AuthenticatedHttpRequest, assignment_id: int, step_id: str
) -> HttpResponse:
    assignment = _patient_assignment(request, assignment_id)
    step = _log_step_or_404(assignment, step_id)
    anchor = reverse("homework:work", args=[assignment.pk]) + f"#step-{step_id}"
    try:
        _response, added = services.log_entry_add(
            assignment=assignment, user=request.user, step_id=step_id, data=request.POST
        )
    except services.HomeworkError as exc:
        if not request.htmx:
            messages.error(request, exc.message)
            return redirect(anchor)
        return _log_block(
            request, assignment, step, error=exc.message, posted=request.POST, status=exc.status
        )
    if not request.htmx:
        messages.success(request, _("Entry added.") if added else _("Entry already saved."))
        return redirect(anchor)
    return _log_block(request, assignment, step)


@login_required
@require_POST
def log_entry_delete_view(
    request: AuthenticatedHttpRequest, assignment_id: int, step_id: str, entry_id: Any
) -> HttpResponse:
    assignment = _patient_assignment(request, assignment_id)
    step = _log_step_or_404(assignment, step_id)
    try:
        services.log_entry_delete(
            assignment=assignment, user=request.user, step_id=step_id, entry_id=str(entry_id)
        )
    except services.HomeworkError as exc:
        if not request.htmx:
            messages.error(request, exc.message)
            return redirect("homework:work", assignment_id=assignment.pk)
        return _log_block(request, assignment, step, error=exc.message, status=exc.status)
    if not request.htmx:
        return redirect(reverse("homework:work", args=[assignment.pk]) + f"#step-{step_id}")
    return _log_block(request, assignment, step)


@login_required
@require_POST
def assignment_submit_view(request: AuthenticatedHttpRequest, assignment_id: int) -> HttpResponse:
    assignment = _patient_assignment(request, assignment_id)
    try:
        submitted = services.assignment_submit(assignment=assignment, user=request.user)
    except services.HomeworkError as exc:
        messages.error(request, exc.message)
        return redirect("homework:work", assignment_id=assignment.pk)
    if submitted:
        messages.success(request, _("Submitted. Your clinician will look at it."))
    else:
        messages.info(request, _("This homework was already submitted."))
    return redirect("homework:work", assignment_id=assignment.pk)


# --- Clinician --------------------------------------------------------------------------


@login_required
@require_GET
def review_home(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = _require_reviewer(request)

    patients = (
        patients_visible_to(user=user)
        .annotate(
            hw_open=Count("homework", filter=Q(homework__status__in=OPEN_STATUSES)),
            hw_submitted=Count("homework", filter=Q(homework__status=AssignmentStatus.SUBMITTED)),
            hw_overdue=Count(
                "homework",
                filter=Q(
                    homework__status__in=OPEN_STATUSES,
                    homework__due_date__lt=timezone.localdate(),
                ),
            ),
        )
        .order_by("full_name")
    )
    audit_record(
        actor=user, action=AuditAction.VIEW, object_type="homework.review", detail="review home"
    )
    return render(
        request,
        "homework/review_home.html",
        {
            "queue": list(selectors.reviewer_queue(user=user)),
            "patients": patients,
            "groups": groups_visible_to(user=user).select_related("program"),
        },
    )


def _suggest(form: AssignForm, session: Any) -> AssignForm:
    """Assigning "from a session": pre-select that session and, when its curriculum topic
    names a module, that module (with a hint saying why)."""
    if session is None:
        return form
    form.initial["session"] = session
    module = selectors.module_suggested_for_session(session=session)
    if module is not None:
        form.initial["module"] = module
        form.fields["module"].help_text = _("Suggested for this session's topic, “%(topic)s”.") % {
            "topic": session.topic
        }
    return form


def _assign_redirect(kind: str, pk: int) -> HttpResponse:
    return redirect(reverse(f"homework:review_{kind}", args=[pk]))


@login_required
def review_patient(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    user = _require_reviewer(request)
    patient = patient_get_for_viewer(viewer=user, patient_id=patient_id)
    if patient is None:
        raise Http404(_("No such patient."))
    # From a session page (?session=): tie it to that session and suggest its topic's
    # module, if the clinician may see the session and the patient is in its group.
    session = None
    session_id = query_int(request, "session")
    if session_id is not None:
        session = session_get_for_staff(user=user, session_id=session_id)
        if session is not None and patient not in selectors.group_active_members(
            group=session.group
        ):
            session = None
    form = _suggest(
        AssignForm(
            request.POST or None,
            sessions=type(session).objects.filter(pk=session.pk) if session else None,
        ),
        session,
    )
    if request.method == "POST":
        if form.is_valid():
            try:
                _assignment, created = services.assignment_create(
                    clinician=user,
                    patient=patient,
                    module=form.cleaned_data["module"],
                    due_date=form.cleaned_data["due_date"],
                    note=form.cleaned_data["note"],
                    session=form.cleaned_data.get("session"),
                )
            except services.HomeworkError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    _("Assigned.")
                    if created
                    else _("The patient already had this module open; due date and note updated."),
                )
                return _assign_redirect("patient", patient.pk)
    elif request.method != "GET":
        return HttpResponse(status=405)
    assignments = list(selectors.reviewer_patient_homework(user=user, patient=patient))
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        object_type="homework.list",
        patient=patient,
        detail="homework list",
    )
    return render(
        request,
        "homework/review_patient.html",
        {
            "patient": patient,
            "assignments": assignments,
            "counts": selectors.status_counts(assignments),
            "form": form,
        },
        status=422 if request.method == "POST" else 200,
    )


@login_required
def review_group(request: AuthenticatedHttpRequest, group_id: int) -> HttpResponse:
    user = _require_reviewer(request)

    group = group_get_for_staff(user=user, group_id=group_id)
    if group is None:
        raise Http404(_("No such group."))
    now = timezone.now()
    # From a session page (?session=): that session is chosen and its topic's module
    # suggested, even if it lies outside the usual two weeks either side.
    chosen_id = query_int(request, "session")
    chosen = group.sessions.filter(pk=chosen_id).first() if chosen_id is not None else None
    sessions = group.sessions.filter(
        Q(starts_at__gte=now - dt.timedelta(days=14), starts_at__lte=now + dt.timedelta(days=14))
        | Q(pk__in=[chosen.pk] if chosen else [])
    ).order_by("starts_at")
    form = _suggest(AssignForm(request.POST or None, sessions=sessions), chosen)
    if request.method == "POST":
        if form.is_valid():
            try:
                result = services.assignment_create_for_group(
                    clinician=user,
                    group=group,
                    module=form.cleaned_data["module"],
                    due_date=form.cleaned_data["due_date"],
                    note=form.cleaned_data["note"],
                    session=form.cleaned_data.get("session"),
                )
            except services.HomeworkError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    _("Assigned to %(new)d member(s); %(old)d already had it open (updated).")
                    % {"new": len(result.created), "old": len(result.updated)},
                )
                return _assign_redirect("group", group.pk)
    elif request.method != "GET":
        return HttpResponse(status=405)
    context = selectors.group_homework(group=group)
    audit_record(actor=user, action=AuditAction.VIEW, obj=group, detail="group homework overview")
    context.update({"group": group, "form": form})
    return render(
        request,
        "homework/review_group.html",
        context,
        status=422 if request.method == "POST" else 200,
    )


@login_required
@require_GET
def review_assignment(request: AuthenticatedHttpRequest, assignment_id: int) -> HttpResponse:
    assignment = _reviewer_assignment(request, assignment_id)
    services.assignment_record_review_read(assignment=assignment, clinician=request.user)
    context = _work_context(assignment)
    context.update({"feedback_form": FeedbackForm(), "patient": assignment.patient})
    return render(request, "homework/review_assignment.html", context)


@login_required
@require_POST
def review_feedback(request: AuthenticatedHttpRequest, assignment_id: int) -> HttpResponse:
    assignment = _reviewer_assignment(request, assignment_id)
    form = FeedbackForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            services.feedback_add(
                assignment=assignment,
                clinician=request.user,
                body=form.cleaned_data["body"],
                reopen=form.cleaned_data["reopen"],
            )
        except services.HomeworkError as exc:
            error = exc.message
        else:
            messages.success(request, _("Feedback saved. The patient will be told."))
            return redirect("homework:review_assignment", assignment_id=assignment.pk)
    context = _work_context(assignment)
    if error:
        form.add_error(None, error)
    context.update({"feedback_form": form, "patient": assignment.patient})
    return render(request, "homework/review_assignment.html", context, status=422)


@login_required
@require_POST
def review_reopen(request: AuthenticatedHttpRequest, assignment_id: int) -> HttpResponse:
    assignment = _reviewer_assignment(request, assignment_id)
    try:
        reopened = services.assignment_reopen(assignment=assignment, clinician=request.user)
    except services.HomeworkError as exc:
        messages.error(request, exc.message)
    else:
        if reopened:
            messages.success(request, _("Reopened: the patient can change answers again."))
        else:
            messages.info(request, _("This homework is already open."))
    return redirect("homework:review_assignment", assignment_id=assignment.pk)
