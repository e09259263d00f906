"""Thin views over charting's selectors and services. A note the viewer may not read is a 404
(and an audited refusal), never a hint that it exists."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.http import AuthenticatedHttpRequest, is_staff, staff_required
from apps.accounts.models import User
from apps.accounts.selectors import patient_get_for_viewer
from apps.audit.models import AuditAction
from apps.audit.services import audit_record, audit_refusal
from apps.charting import selectors, services
from apps.charting.forms import (
    AddendumForm,
    NoteDetailsForm,
    PsychotherapyNoteForm,
    SignForm,
    WithholdForm,
    clean_content,
    content_form_class,
    member_form_class,
)
from apps.charting.models import GroupNote, Note
from apps.core.forms import add_service_errors
from apps.core.params import form_int
from apps.enrollment.models import TreatmentGoal


def _note(request: AuthenticatedHttpRequest, note_id: int) -> Note:
    note = selectors.note_get_for_viewer(viewer=request.user, note_id=note_id)
    if note is None:
        raise audit_refusal(request, "charting.note", note_id)
    return note


def _seq(request: HttpRequest) -> int:
    return form_int(request, "seq", default=0) or 0


# --- the clinician's documentation page ---------------------------------------------------


@staff_required
@require_GET
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    drafts = selectors.drafts_for(author=user)
    context: dict[str, Any] = {
        "due": selectors.notes_due_for(clinician=user) if user.role == "clinician" else [],
        "drafts": drafts[0],
        "group_drafts": drafts[1],
        "to_cosign": selectors.to_cosign(supervisor=user),
        "overdue": selectors.overdue_by_clinician(viewer=user) if user.role == "admin" else None,
    }
    return render(request, "charting/home.html", context)


@login_required
@require_GET
def my_notes(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every note the patient may read (open notes), newest first, 25 a page."""
    user = request.user
    if user.role != "patient":
        raise Http404
    page = Paginator(selectors.notes_for_patient(patient=user), 25).get_page(
        request.GET.get("page")
    )
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        object_type="charting.note",
        object_id=f"patient:{user.pk}",
        patient=user,
        detail="all my notes",
    )
    return render(request, "charting/my_notes.html", {"page": page})


# --- starting notes -----------------------------------------------------------------------


@staff_required
@require_POST
def appointment_note(request: AuthenticatedHttpRequest, appointment_id: int) -> HttpResponse:
    user = request.user
    appointment = selectors.appointment_get_for_author(viewer=user, appointment_id=appointment_id)
    if appointment is None:
        raise audit_refusal(request, "scheduling.appointment", appointment_id)
    template = selectors.template_offered_get(form_int(request, "template"))
    try:
        note = services.note_start_for_appointment(
            appointment=appointment, by=user, template=template
        )
    except services.NoteError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("charting:home")
    return redirect("charting:note", note.pk)


@staff_required
@require_POST
def patient_note_new(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    user = request.user
    patient = patient_get_for_viewer(viewer=user, patient_id=patient_id)
    if patient is None:
        raise audit_refusal(request, "charting.note", f"patient:{patient_id}")
    template = selectors.template_offered_get(form_int(request, "template"))
    if template is None:
        messages.error(request, _("Choose a template."))
        return redirect("progress:chart", patient.pk)
    try:
        note = services.note_start(patient=patient, by=user, template=template)
    except (services.NoteError, PermissionDenied) as exc:
        messages.error(
            request,
            " ".join(getattr(exc, "messages", [_("You cannot write notes for this patient.")])),
        )
        return redirect("progress:chart", patient.pk)
    return redirect("charting:note", note.pk)


# --- one note -----------------------------------------------------------------------------


def _goal_choices(note: Note) -> list[tuple[int, str]]:
    goals = (
        TreatmentGoal.objects.filter(plan__patient_id=note.patient_id)
        .select_related("plan")
        .order_by("-plan__version", "position")
    )
    latest = None
    out = []
    for g in goals:
        latest = latest or g.plan.version
        if g.plan.version == latest or g.pk in {x.pk for x in note.goals.all()}:
            out.append((g.pk, g.goal))
    return out


def _details_initial(note: Note) -> dict[str, Any]:
    tz = note.program.time_zone
    return {
        "service_date": note.service_date,
        "start_time": note.started_at.astimezone(tz).time() if note.started_at else None,
        "end_time": note.ended_at.astimezone(tz).time() if note.ended_at else None,
        "modality": note.modality,
        "location": note.location,
        "location_place": note.location_place,
        "place_of_service": note.place_of_service,
        "risk": note.risk,
        "risk_notes": note.risk_notes,
        "safety_plan_reviewed": note.safety_plan_reviewed,
        "goals": [str(g.pk) for g in note.goals.all()],
    }


def _screening(note: Note) -> list[Any]:
    if note.template.kind not in ("intake", "assessment"):
        return []
    return selectors.screening_results(patient=note.patient)


def _edit_context(request: HttpRequest, note: Note, **extra: Any) -> dict[str, Any]:
    spec = note.template.spec
    content_form = extra.pop("content_form", None) or content_form_class(spec.fields)(
        initial=note.content
    )
    details_form = extra.pop("details_form", None) or NoteDetailsForm(
        initial=_details_initial(note), goal_choices=_goal_choices(note)
    )
    sections = [
        (section.title, [content_form[f.id] for f in section.fields]) for section in spec.sections
    ]
    return {
        "note": note,
        "spec": spec,
        "sections": sections,
        "details_form": details_form,
        "sign_form": extra.pop("sign_form", None) or SignForm(),
        "screening": _screening(note),
        "has_last": selectors.last_signed_note(
            patient=note.patient, template=note.template, before=note
        )
        is not None,
        **extra,
    }


@login_required
@require_GET
def note(request: AuthenticatedHttpRequest, note_id: int) -> HttpResponse:
    user = request.user
    note = _note(request, note_id)
    audit_record(actor=user, action=AuditAction.VIEW, obj=note, patient=note.patient, detail="note")
    if note.group_note_id and not is_staff(user):
        return render(request, "charting/note_read.html", _read_context(note, user))
    if not note.is_signed():
        return render(request, "charting/note_edit.html", _edit_context(request, note))
    if note.group_note_id:
        return redirect("charting:group_note", note.group_note.session_id)  # type: ignore[union-attr]
    return render(request, "charting/note_read.html", _read_context(note, user))


def _answers(fields: Any, content: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, answer) for the answered fields; several choices read as one line."""
    out = []
    for f in fields:
        value = content.get(f.id)
        if value:
            out.append((f.label, ", ".join(value) if isinstance(value, list) else str(value)))
    return out


def _read_context(note: Note, viewer: User) -> dict[str, Any]:
    spec = note.template.spec
    context: dict[str, Any] = {"note": note, "staff": is_staff(viewer)}
    if note.group_note_id:
        group = note.group_note
        assert group is not None
        context["shared"] = _answers(spec.fields, group.content)
        context["answers"] = _answers(spec.member_fields, note.content)
        context["group"] = group
    else:
        context["answers"] = [
            (title, _answers(fields, note.content))
            for title, fields in ((s.title, s.fields) for s in spec.sections)
        ]
    if context["staff"]:
        context["screening"] = _screening(note)
        context["addendum_form"] = AddendumForm()
        context["cosign_form"] = (
            SignForm()
            if note.cosigner_id == viewer.pk and not hasattr(note, "cosignature")
            else None
        )
        context["withhold_form"] = WithholdForm(reasons=selectors.policy_for(note.program).reasons)
    return context


@login_required
@require_POST
def note_save(request: AuthenticatedHttpRequest, note_id: int) -> HttpResponse:
    user = request.user
    note = selectors.note_get_for_author(viewer=user, note_id=note_id)
    if note is None:
        raise audit_refusal(request, "charting.note", note_id)
    spec = note.template.spec
    content_form = content_form_class(spec.fields)(request.POST)
    details_form = NoteDetailsForm(request.POST, goal_choices=_goal_choices(note))
    if not (content_form.is_valid() and details_form.is_valid()):
        if request.htmx:
            return render(
                request,
                "charting/partials/save_state.html",
                {"errors": [*content_form.errors.values(), *details_form.errors.values()]},
                status=400,
            )
        return render(
            request,
            "charting/note_edit.html",
            _edit_context(request, note, content_form=content_form, details_form=details_form),
            status=400,
        )
    try:
        services.note_save_draft(
            note=note,
            by=user,
            content=clean_content(spec.fields, content_form.cleaned_data),
            details=details_form.cleaned_data,
            seq=_seq(request),
        )
    except services.NoteError as exc:
        return _note_error(request, note, exc)
    if request.htmx:
        return render(request, "charting/partials/save_state.html", {"saved_at": timezone.now()})
    messages.success(request, _("Draft saved."))
    return redirect("charting:note", note.pk)


def _note_error(
    request: AuthenticatedHttpRequest, note: Note | GroupNote, exc: ValidationError
) -> HttpResponse:
    if request.htmx:
        return render(
            request, "charting/partials/save_state.html", {"errors": exc.messages}, status=409
        )
    for message in exc.messages:
        messages.error(request, message)
    if isinstance(note, GroupNote):
        return redirect("charting:group_note", note.session_id)
    return redirect("charting:note", note.pk)


@login_required
@require_POST
def note_load_last(request: AuthenticatedHttpRequest, note_id: int) -> HttpResponse:
    user = request.user
    note = selectors.note_get_for_author(viewer=user, note_id=note_id)
    if note is None:
        raise audit_refusal(request, "charting.note", note_id)
    if services.note_load_last(note=note, by=user):
        messages.success(
            request, _("Started from the last signed note. Update it for today's session.")
        )
    else:
        messages.info(request, _("There is no earlier signed note of this kind for this patient."))
    return redirect("charting:note", note.pk)


@login_required
@require_POST
def note_sign(request: AuthenticatedHttpRequest, note_id: int) -> HttpResponse:
    user = request.user
    note = _note(request, note_id)
    if note.is_signed():
        messages.info(request, _("This note is already signed."))
        return redirect("charting:note", note.pk)
    form = SignForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "charting/note_edit.html",
            _edit_context(request, note, sign_form=form),
            status=400,
        )
    try:
        services.note_sign(
            note=note,
            by=user,
            typed_name=form.cleaned_data["typed_name"],
            secret=form.cleaned_data["secret"],
        )
    except PermissionDenied as exc:
        raise audit_refusal(request, "charting.note", note_id) from exc
    except ValidationError as exc:
        add_service_errors(form, exc)
        return render(
            request,
            "charting/note_edit.html",
            _edit_context(request, note, sign_form=form),
            status=400,
        )
    messages.success(request, _("Signed. The note is locked; changes from now on are addenda."))
    return redirect("charting:note", note.pk)


def _signed_target(request: AuthenticatedHttpRequest, kind: str, pk: int) -> Note | GroupNote:
    if kind == "group":
        found = selectors.group_note_get_for_staff(viewer=request.user, session_id=pk)
        if found is None or found[1] is None:
            raise audit_refusal(request, "charting.groupnote", pk)
        return found[1]
    note = _note(request, pk)
    if not is_staff(request.user):
        raise audit_refusal(request, "charting.note", pk)
    return note


def _back(target: Note | GroupNote) -> HttpResponse:
    if isinstance(target, GroupNote):
        return redirect("charting:group_note", target.session_id)
    return redirect("charting:note", target.pk)


@login_required
@require_POST
def addendum(request: AuthenticatedHttpRequest, kind: str, pk: int) -> HttpResponse:
    return _signed_action(
        request,
        kind,
        pk,
        AddendumForm,
        lambda target, data, by: services.addendum_add(
            note=target,
            by=by,
            body=data["body"],
            typed_name=data["typed_name"],
            secret=data["secret"],
        ),
        done=_("Addendum signed and added."),
    )


@login_required
@require_POST
def cosign(request: AuthenticatedHttpRequest, kind: str, pk: int) -> HttpResponse:
    return _signed_action(
        request,
        kind,
        pk,
        SignForm,
        lambda target, data, by: services.cosign(
            note=target, by=by, typed_name=data["typed_name"], secret=data["secret"]
        ),
        done=_("Co-signed."),
    )


def _signed_action(
    request: AuthenticatedHttpRequest,
    kind: str,
    pk: int,
    form_class: type[SignForm],
    act: Any,
    *,
    done: str,
) -> HttpResponse:
    """A signature on a signed note (an addendum, a co-signature): the form's errors or the
    service's refusal come back as messages on the note, a refused viewer as a 404."""
    target = _signed_target(request, kind, pk)
    form = form_class(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, str(message))
        return _back(target)
    try:
        act(target, form.cleaned_data, request.user)
    except PermissionDenied as exc:
        raise audit_refusal(request, "charting.note", pk) from exc
    except ValidationError as exc:
        return _note_error(request, target, exc)
    messages.success(request, done)
    return _back(target)


@login_required
@require_POST
def withhold(request: AuthenticatedHttpRequest, note_id: int) -> HttpResponse:
    note = _signed_target(request, "note", note_id)
    assert isinstance(note, Note)
    if request.POST.get("release"):
        services.note_release(note=note, by=request.user)
        messages.success(request, _("The patient can read this note again."))
        return _back(note)
    form = WithholdForm(request.POST, reasons=selectors.policy_for(note.program).reasons)
    if not form.is_valid():
        messages.error(request, _("Choose one of the program's reasons."))
        return _back(note)
    try:
        services.note_withhold(note=note, by=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        return _note_error(request, note, exc)
    messages.success(request, _("Withheld from the patient's portal."))
    return _back(note)


# --- group notes --------------------------------------------------------------------------


def _member_forms(
    group_note: GroupNote, parts: list[Note], data: Any = None
) -> list[tuple[Note, Any]]:
    form_class = member_form_class(group_note.template.spec)
    return [
        (
            part,
            form_class(
                data,
                prefix=f"m{part.patient_id}",
                initial={
                    **part.content,
                    "risk": part.risk,
                    "safety_plan_reviewed": part.safety_plan_reviewed,
                },
            ),
        )
        for part in parts
    ]


@login_required
def group_note(request: AuthenticatedHttpRequest, session_id: int) -> HttpResponse:
    user = request.user
    found = selectors.group_note_get_for_staff(viewer=user, session_id=session_id)
    if found is None:
        raise audit_refusal(request, "charting.groupnote", session_id)
    session, group = found
    if request.method == "POST":
        if group is not None and group.is_signed():
            return redirect("charting:group_note", session.pk)
        try:
            group = services.group_note_start(session=session, by=user)
        except PermissionDenied as exc:
            raise audit_refusal(request, "charting.groupnote", session_id) from exc
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("charting:home")
        return redirect("charting:group_note", session.pk)
    if request.method != "GET":
        return HttpResponseBadRequest()
    if group is not None and not group.is_signed() and group.author_id == user.pk:
        group = services.group_note_start(session=session, by=user)  # adds late attendees
    return render(request, "charting/group_note.html", _group_context(request, session, group))


def _group_context(
    request: AuthenticatedHttpRequest, session: Any, group: GroupNote | None, **extra: Any
) -> dict[str, Any]:
    user = request.user
    context: dict[str, Any] = {
        "session": session,
        "group": group,
        "attendees": selectors.session_attendees(session),
    }
    if group is None:
        return context
    audit_record(actor=user, action=AuditAction.VIEW, obj=group, detail="group note")
    parts = selectors.group_note_members(group)
    minutes = {a.patient_id: a.minutes for a in context["attendees"]}
    spec = group.template.spec
    editable = not group.is_signed() and group.author_id == user.pk
    shared_form = extra.pop("shared_form", None) or content_form_class(spec.fields)(
        initial=group.content
    )
    members = extra.pop("members", None) or _member_forms(group, parts)
    context.update(
        editable=editable,
        spec=spec,
        shared_fields=[shared_form[f.id] for f in spec.fields],
        shared=_answers(spec.fields, group.content),
        members=[
            {
                "part": part,
                "form": form,
                "minutes": minutes.get(part.patient_id),
                "fields": [form[f.id] for f in spec.member_fields],
                "answers": _answers(spec.member_fields, part.content),
            }
            for part, form in members
        ],
        sign_form=extra.pop("sign_form", None) or SignForm(),
        addendum_form=AddendumForm(),
        cosign_form=SignForm()
        if group.cosigner_id == user.pk and not hasattr(group, "cosignature")
        else None,
        **extra,
    )
    return context


def _own_group_draft(request: AuthenticatedHttpRequest, session_id: int) -> GroupNote:
    group = selectors.group_note_draft_for_author(viewer=request.user, session_id=session_id)
    if group is None:
        raise audit_refusal(request, "charting.groupnote", session_id)
    return group


@login_required
@require_POST
def group_note_save(request: AuthenticatedHttpRequest, session_id: int) -> HttpResponse:
    user = request.user
    group = _own_group_draft(request, session_id)
    spec = group.template.spec
    shared_form = content_form_class(spec.fields)(request.POST)
    parts = selectors.group_note_members(group)
    members = _member_forms(group, parts, request.POST)
    if not shared_form.is_valid() or not all(form.is_valid() for _, form in members):
        errors = [*shared_form.errors.values()] + [e for _, f in members for e in f.errors.values()]
        if request.htmx:
            return render(
                request, "charting/partials/save_state.html", {"errors": errors}, status=400
            )
        return render(
            request,
            "charting/group_note.html",
            _group_context(request, group.session, group, shared_form=shared_form, members=members),
            status=400,
        )
    try:
        services.group_note_save_draft(
            group_note=group,
            by=user,
            shared=clean_content(spec.fields, shared_form.cleaned_data),
            members={part.patient_id: form.cleaned_data for part, form in members},
            seq=_seq(request),
        )
    except ValidationError as exc:
        return _note_error(request, group, exc)
    if request.htmx:
        return render(request, "charting/partials/save_state.html", {"saved_at": timezone.now()})
    messages.success(request, _("Draft saved."))
    return redirect("charting:group_note", session_id)


@login_required
@require_POST
def group_note_sign(request: AuthenticatedHttpRequest, session_id: int) -> HttpResponse:
    user = request.user
    found = selectors.group_note_get_for_staff(viewer=user, session_id=session_id)
    if found is None or found[1] is None:
        raise audit_refusal(request, "charting.groupnote", session_id)
    group = found[1]
    if group.is_signed():
        messages.info(request, _("This group note is already signed."))
        return redirect("charting:group_note", session_id)
    form = SignForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "charting/group_note.html",
            _group_context(request, group.session, group, sign_form=form),
            status=400,
        )
    try:
        services.group_note_sign(
            group_note=group,
            by=user,
            typed_name=form.cleaned_data["typed_name"],
            secret=form.cleaned_data["secret"],
        )
    except PermissionDenied as exc:
        raise audit_refusal(request, "charting.groupnote", session_id) from exc
    except ValidationError as exc:
        add_service_errors(form, exc)
        return render(
            request,
            "charting/group_note.html",
            _group_context(request, group.session, group, sign_form=form),
            status=400,
        )
    messages.success(
        request,
        _("Signed for every attendee. The note is locked; changes from now on are addenda."),
    )
    return redirect("charting:group_note", session_id)


# --- psychotherapy notes ------------------------------------------------------------------


@login_required
def psychotherapy(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    user = request.user
    patient = selectors.psychotherapy_patient_get(viewer=user, patient_id=patient_id)
    if patient is None:
        raise audit_refusal(request, "charting.psychotherapynote", f"patient:{patient_id}")
    form = PsychotherapyNoteForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            services.psychotherapy_note_add(
                by=user, patient=patient, body=form.cleaned_data["body"]
            )
            messages.success(request, _("Saved to your psychotherapy notes."))
            return redirect("charting:psychotherapy", patient.pk)
    elif request.method != "GET":
        return HttpResponseBadRequest()
    rows = selectors.psychotherapy_notes_for(author=user, patient=patient)
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        object_type="charting.psychotherapynote",
        object_id=f"patient:{patient.pk}",
        patient=patient,
        detail="psychotherapy notes",
    )
    return render(
        request,
        "charting/psychotherapy.html",
        {"patient": patient, "rows": rows, "form": form},
        status=400 if form.errors else 200,
    )
