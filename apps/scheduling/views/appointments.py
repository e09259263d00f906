"""Individual appointments (a patient's request, staff booking, moving, status) and a
clinician's open hours."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.http import AuthenticatedHttpRequest, patient_required, staff_required
from apps.scheduling import forms, selectors, services
from apps.scheduling.models import AppointmentStatus, AvailabilityException, ClinicianAvailability
from apps.scheduling.views.common import error_text, slot_choices


@patient_required
@require_http_methods(["GET", "POST"])
def appointment_request(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A patient picks a clinician of their program, then one of their open slots."""
    patient = request.user
    clinicians = selectors.clinicians_for_patient(patient=patient)
    clinician = None
    raw = request.GET.get("clinician") or request.POST.get("clinician")
    if raw:
        try:
            clinician = clinicians.filter(pk=int(raw)).first()
        except ValueError:
            clinician = None
        if clinician is None:
            raise Http404
    slots: list[dt.datetime] = []
    form = None
    if clinician is not None:
        slots = selectors.open_slots(
            clinician=clinician, patient=patient, start_day=timezone.localdate()
        )
        form = forms.SlotForm(request.POST or None, slots=slot_choices(slots))
        if request.method == "POST" and form.is_valid():
            start = form.starts_at()
            try:
                services.appointment_book(
                    clinician=clinician,
                    patient=patient,
                    kind=form.cleaned_data["kind"],
                    starts_at=start,
                    ends_at=start + dt.timedelta(minutes=50),
                    by=patient,
                )
            except services.SchedulingError as exc:
                form.add_error(None, error_text(exc))
            else:
                messages.success(
                    request, _("Your request was sent. You will see it confirmed here.")
                )
                return redirect("scheduling:my_week")
    return render(
        request,
        "scheduling/appointment_request.html",
        {"clinicians": clinicians, "clinician": clinician, "form": form, "slots": slots},
    )


@login_required
@require_http_methods(["GET", "POST"])
def appointment_reschedule(request: AuthenticatedHttpRequest, appointment_id: int) -> HttpResponse:
    user = request.user
    appointment = selectors.appointment_get_for_viewer(user=user, appointment_id=appointment_id)
    if appointment is None:
        raise Http404
    if appointment.status not in (AppointmentStatus.BOOKED, AppointmentStatus.REQUESTED):
        messages.error(request, _("Only a booked or requested appointment can be moved."))
        return redirect("scheduling:my_week" if user.is_patient else "scheduling:today")
    length = appointment.ends_at - appointment.starts_at
    slots = list(
        selectors.open_slots(
            clinician=appointment.clinician,
            patient=appointment.patient,
            start_day=timezone.localdate(),
            length=length,
        )
    )
    form = forms.SlotForm(request.POST or None, slots=slot_choices(slots), with_kind=False)
    if request.method == "POST" and form.is_valid():
        try:
            services.appointment_reschedule(
                appointment=appointment, by=user, starts_at=form.starts_at()
            )
        except services.SchedulingError as exc:
            form.add_error(None, error_text(exc))
        else:
            messages.success(request, _("The appointment was moved."))
            return redirect("scheduling:my_week" if user.is_patient else "scheduling:today")
    return render(
        request,
        "scheduling/appointment_reschedule.html",
        {"appointment": appointment, "form": form},
    )


@login_required
@require_POST
def appointment_status(request: AuthenticatedHttpRequest, appointment_id: int) -> HttpResponse:
    user = request.user
    appointment = selectors.appointment_get_for_viewer(user=user, appointment_id=appointment_id)
    if appointment is None:
        raise Http404
    status = request.POST.get("status", "")
    try:
        services.appointment_set_status(
            appointment=appointment, by=user, status=status, reason=request.POST.get("reason", "")
        )
    except services.SchedulingError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("Appointment updated."))
    return redirect("scheduling:my_week" if user.is_patient else "scheduling:today")


@staff_required
@require_http_methods(["GET", "POST"])
def appointment_book(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    patients = selectors.patients_for_staff(user=user)
    form = forms.AppointmentBookForm(request.POST or None, patients=patients)
    if request.method == "POST" and form.is_valid():
        starts_at, ends_at = form.times()
        try:
            services.appointment_book(
                clinician=user,
                patient=form.cleaned_data["patient"],
                kind=form.cleaned_data["kind"],
                starts_at=starts_at,
                ends_at=ends_at,
                by=user,
            )
        except services.SchedulingError as exc:
            form.add_error(None, error_text(exc))
        else:
            messages.success(request, _("Appointment booked."))
            return redirect(f"{reverse('scheduling:today')}?day={starts_at.date().isoformat()}")
    return render(request, "scheduling/appointment_book.html", {"form": form})


@staff_required
@require_http_methods(["GET", "POST"])
def availability(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Weekly open hours (in my zone) and days away."""
    user = request.user
    if not user.is_clinician:
        raise Http404
    windows = list(ClinicianAvailability.objects.filter(clinician=user))
    window_form = forms.AvailabilityWindowForm(prefix="w")
    exception_form = forms.AvailabilityExceptionForm(prefix="x")
    action = request.POST.get("action")
    status = 200
    if request.method == "POST":
        try:
            if action == "add":
                window_form = forms.AvailabilityWindowForm(request.POST, prefix="w")
                if window_form.is_valid():
                    data = window_form.cleaned_data
                    services.availability_set(
                        clinician=user,
                        by=user,
                        windows=[(w.weekday, w.start_time, w.end_time) for w in windows]
                        + [(data["weekday"], data["start_time"], data["end_time"])],
                    )
                    messages.success(request, _("Open hours added."))
                    return redirect("scheduling:availability")
            elif action == "remove":
                try:
                    remove_id = int(request.POST.get("window", ""))
                except ValueError:
                    remove_id = -1
                if not any(w.pk == remove_id for w in windows):
                    raise services.SchedulingError(_("Those open hours no longer exist."))
                services.availability_set(
                    clinician=user,
                    by=user,
                    windows=[
                        (w.weekday, w.start_time, w.end_time) for w in windows if w.pk != remove_id
                    ],
                )
                messages.success(request, _("Open hours removed."))
                return redirect("scheduling:availability")
            elif action == "away":
                exception_form = forms.AvailabilityExceptionForm(request.POST, prefix="x")
                if exception_form.is_valid():
                    data = exception_form.cleaned_data
                    services.availability_exception_add(
                        clinician=user,
                        by=user,
                        date=data["date"],
                        start_time=data["start_time"],
                        end_time=data["end_time"],
                        reason=data["reason"],
                    )
                    messages.success(request, _("Time away added."))
                    return redirect("scheduling:availability")
            else:
                return HttpResponseBadRequest(_("Unknown action."))
        except services.SchedulingError as exc:
            messages.error(request, error_text(exc))
        status = 400
    exceptions = AvailabilityException.objects.filter(
        clinician=user, date__gte=timezone.localdate()
    )
    return render(
        request,
        "scheduling/availability.html",
        {
            "windows": windows,
            "exceptions": exceptions,
            "window_form": window_form,
            "exception_form": exception_form,
        },
        status=status,
    )
