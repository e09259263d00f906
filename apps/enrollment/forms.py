from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.formfields import PhoneNumberField

from apps.accounts.models import Role, User
from apps.enrollment.models import (
    Application,
    DischargeReason,
    DisclosureItem,
    Insurance,
    RecipientKind,
    SafetyPlan,
)
from apps.enrollment.services import MAX_CARD_BYTES
from apps.scheduling.models import Group

US_STATES = [
    ("AL", "Alabama"), ("AK", "Alaska"), ("AZ", "Arizona"), ("AR", "Arkansas"),
    ("CA", "California"), ("CO", "Colorado"), ("CT", "Connecticut"), ("DE", "Delaware"),
    ("DC", "District of Columbia"), ("FL", "Florida"), ("GA", "Georgia"), ("HI", "Hawaii"),
    ("ID", "Idaho"), ("IL", "Illinois"), ("IN", "Indiana"), ("IA", "Iowa"), ("KS", "Kansas"),
    ("KY", "Kentucky"), ("LA", "Louisiana"), ("ME", "Maine"), ("MD", "Maryland"),
    ("MA", "Massachusetts"), ("MI", "Michigan"), ("MN", "Minnesota"), ("MS", "Mississippi"),
    ("MO", "Missouri"), ("MT", "Montana"), ("NE", "Nebraska"), ("NV", "Nevada"),
    ("NH", "New Hampshire"), ("NJ", "New Jersey"), ("NM", "New Mexico"), ("NY", "New York"),
    ("NC", "North Carolina"), ("ND", "North Dakota"), ("OH", "Ohio"), ("OK", "Oklahoma"),
    ("OR", "Oregon"), ("PA", "Pennsylvania"), ("RI", "Rhode Island"), ("SC", "South Carolina"),
    ("SD", "South Dakota"), ("TN", "Tennessee"), ("TX", "Texas"), ("UT", "Utah"),
    ("VT", "Vermont"), ("VA", "Virginia"), ("WA", "Washington"), ("WV", "West Virginia"),
    ("WI", "Wisconsin"), ("WY", "Wyoming"),
]  # fmt: skip

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class StartForm(forms.Form):
    program = forms.IntegerField(widget=forms.HiddenInput)


class DetailsForm(forms.ModelForm):
    # The profile's phone field (django-phonenumber-field): "abc" is refused, a number is
    # stored in E.164 whatever way it was typed.
    phone = PhoneNumberField(
        label=_("Phone"),
        region="US",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    emergency_phone = PhoneNumberField(
        label=_("Emergency contact phone"),
        region="US",
        widget=forms.TextInput(attrs={"type": "tel"}),
    )
    state = forms.ChoiceField(
        label=_("State you live in"),
        choices=[("", "—")] + US_STATES,
        help_text=_(
            "Telehealth is licensed per state: we can only treat residents of the states a program serves."
        ),
    )

    class Meta:
        model = Application
        fields = [
            "phone",
            "date_of_birth",
            "state",
            "emergency_name",
            "emergency_phone",
            "emergency_relationship",
            "heard_from",
            "current_treatment",
            "reason",
        ]
        widgets = {
            "date_of_birth": DATE,
            "current_treatment": forms.Textarea(attrs={"rows": 3}),
            "reason": forms.Textarea(attrs={"rows": 4}),
        }
        help_texts = {
            "current_treatment": _("Therapist, psychiatrist, medicines, other programs — or none."),
            "reason": _(
                "In your own words: what is going on and what you hope to get from the program."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("phone", "date_of_birth", "emergency_name", "emergency_phone", "reason"):
            self.fields[name].required = True


class InsuranceForm(forms.ModelForm):
    card_front = forms.FileField(
        label=_("Photo of the card, front"),
        required=False,
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
        help_text=_("JPEG, PNG or WebP, up to 10 MB."),
    )
    card_back = forms.FileField(
        label=_("Photo of the card, back"),
        required=False,
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
        help_text=_("JPEG, PNG or WebP, up to 10 MB."),
    )

    class Meta:
        model = Insurance
        fields = ["self_pay", "payer", "member_id", "group_number", "subscriber_relationship"]
        labels = {"self_pay": _("I will pay for myself (self-pay)")}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("card_front", "card_back"):
            upload = data.get(name)
            if upload and upload.size > MAX_CARD_BYTES:
                self.add_error(name, _("The image must be 10 MB or smaller."))
        return data


class IntakeRequestForm(forms.Form):
    preferred_1 = forms.DateTimeField(label=_("First choice"), widget=DATETIME)
    preferred_2 = forms.DateTimeField(
        label=_("Second choice (optional)"), widget=DATETIME, required=False
    )
    preferred_3 = forms.DateTimeField(
        label=_("Third choice (optional)"), widget=DATETIME, required=False
    )
    notes = forms.CharField(
        label=_("Anything we should know about scheduling (optional)"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class SignForm(forms.Form):
    agree = forms.BooleanField(label=_("I have read this document and agree to it."))
    typed_name = forms.CharField(
        label=_("Type your full name to sign"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )


class PlanSignForm(forms.Form):
    typed_name = forms.CharField(
        label=_("Type your full name to sign"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )


class ScheduleIntakeForm(forms.Form):
    intake_at = forms.DateTimeField(label=_("Intake appointment"), widget=DATETIME)
    clinician = forms.ModelChoiceField(
        label=_("With"),
        queryset=User.objects.none(),
        help_text=_("A video visit in this clinician's open hours."),
    )

    def __init__(self, *args: Any, application: Application, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["clinician"].queryset = User.objects.filter(  # type: ignore[attr-defined]
            role=Role.CLINICIAN, program_staff__program=application.program
        ).order_by("full_name")


class AdmitForm(forms.Form):
    start_date = forms.DateField(label=_("Start date"), widget=DATE)
    primary_clinician = forms.ModelChoiceField(
        label=_("Primary clinician"), queryset=User.objects.none()
    )

    def __init__(self, *args: Any, application: Application, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["primary_clinician"].queryset = User.objects.filter(  # type: ignore[attr-defined]
            role=Role.CLINICIAN, program_staff__program=application.program
        ).order_by("full_name")
        self.fields["groups"] = forms.ModelMultipleChoiceField(
            label=_("Groups to join"),
            queryset=_program_groups(application),
            required=False,
            widget=forms.CheckboxSelectMultiple,
            help_text=_("Seats start on the start date. A full group refuses the admission."),
        )


def _program_groups(application: Application) -> Any:
    """The program's current groups."""
    return (
        Group.objects.filter(program=application.program)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=timezone.localdate()))
        .order_by("name")
    )


class WaitlistForm(forms.Form):
    position = forms.IntegerField(label=_("Position on the waitlist"), min_value=1, max_value=999)
    expected = forms.DateField(label=_("Expected start (optional)"), widget=DATE, required=False)


class ReferForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for referral"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text=_("The patient sees a kind message and crisis resources, not this text."),
    )


class TreatmentPlanForm(forms.Form):
    problems = forms.CharField(
        label=_("Problems"), widget=forms.Textarea(attrs={"rows": 4}), max_length=4000
    )
    interventions = forms.CharField(
        label=_("Interventions"), widget=forms.Textarea(attrs={"rows": 4}), max_length=4000
    )
    review_date = forms.DateField(label=_("Review date"), widget=DATE)


class GoalForm(forms.Form):
    goal = forms.CharField(label=_("Goal"), max_length=300, required=False)
    objective = forms.CharField(label=_("Measurable objective"), max_length=300, required=False)
    target_date = forms.DateField(label=_("Target date"), widget=DATE, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("goal") or "").strip():
            if not (data.get("objective") or "").strip():
                self.add_error("objective", _("Say how progress will be measured."))
            if not data.get("target_date"):
                self.add_error("target_date", _("Give a target date."))
        return data


GoalFormSet = forms.formset_factory(GoalForm, extra=0, min_num=3, max_num=10, validate_max=True)


class SafetyPlanForm(forms.ModelForm):
    class Meta:
        model = SafetyPlan
        fields = [
            "warning_signs",
            "coping_strategies",
            "distractions",
            "help_contacts",
            "professionals",
            "environment",
            "reason_for_living",
        ]
        widgets = {f: forms.Textarea(attrs={"rows": 3, "maxlength": 4000}) for f in fields}
        help_texts = {
            "warning_signs": _(
                "Thoughts, images, moods, situations or behaviours that tell you a crisis may be coming."
            ),
            "coping_strategies": _("Things you can do on your own to take your mind off problems."),
            "help_contacts": _("Names and phone numbers."),
            "professionals": _(
                "988 and the clinic line are always on your plan; add your own clinicians here."
            ),
            "environment": _(
                "Ways to keep yourself safe, e.g. who holds medicines or other means."
            ),
        }


class DischargeForm(forms.Form):
    reason = forms.ChoiceField(label=_("Reason"), choices=[("", "—"), *DischargeReason.choices])
    follow_up_provider = forms.CharField(
        label=_("Follow-up provider"), max_length=200, required=False
    )
    follow_up_frequency = forms.CharField(
        label=_("Follow-up frequency"),
        max_length=100,
        required=False,
        help_text=_("e.g. weekly individual therapy"),
    )
    support_groups = forms.CharField(
        label=_("Support groups"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
    )
    relapse_prevention_link = forms.URLField(
        label=_("Relapse-prevention plan link"), required=False, assume_scheme="https"
    )
    summary = forms.CharField(
        label=_("Course of treatment summary"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=6000,
    )


class ReleaseForm(forms.Form):
    recipient_kind = forms.ChoiceField(label=_("Who receives it"), choices=RecipientKind.choices)
    recipient_name = forms.CharField(label=_("Their name (person or organisation)"), max_length=150)
    recipient_relationship = forms.CharField(
        label=_("Relationship to the patient"),
        max_length=60,
        required=False,
        help_text=_("e.g. sister, outpatient therapist, employer"),
    )
    recipient_contact = forms.CharField(
        label=_("Their address, phone or e-mail (optional)"), max_length=200, required=False
    )
    items = forms.MultipleChoiceField(
        label=_("What may be disclosed"),
        choices=DisclosureItem.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    items_other = forms.CharField(
        label=_("Anything else that may be disclosed (optional)"), max_length=300, required=False
    )
    purpose = forms.CharField(
        label=_("Purpose"),
        max_length=300,
        help_text=_("e.g. to take part in family sessions, to coordinate care"),
    )
    expires_on = forms.DateField(label=_("Expires on"), required=False, widget=DATE)
    expiry_event = forms.CharField(
        label=_("Or expires when (an event)"),
        max_length=200,
        required=False,
        help_text=_("e.g. when I complete the program"),
    )
    may_receive_appointment_times = forms.BooleanField(
        label=_("They may be told my appointment and session times"), required=False
    )
    recipient_email = forms.EmailField(
        label=_("Their e-mail for appointment times"),
        required=False,
        help_text=_(
            "Needed if they may be told your times: each e-mail says only your first name "
            "and the time, and is listed in your disclosure log."
        ),
    )


class EventConfirmForm(forms.Form):
    happened_on = forms.DateField(label=_("The event happened on"), widget=DATE)


class RevokeForm(forms.Form):
    effective_on = forms.DateField(label=_("Revoke as of"), widget=DATE)
    reason = forms.CharField(label=_("Reason (optional)"), max_length=300, required=False)
    confirm = forms.BooleanField(
        label=_("I understand what revoking does and does not undo."),
        error_messages={"required": _("Tick the box to confirm.")},
    )
