from __future__ import annotations

from typing import Any

from allauth.account.forms import LoginForm, SignupForm
from django import forms
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import Role, User
from apps.accounts.services import profile_ensure


class SiteLoginForm(LoginForm):
    """allauth's login form without its "Forgot your password?" help text: the sign-in page
    shows that link itself, as a full-size target (templates/account/login.html)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.label_suffix = ""
        self.fields["password"].help_text = ""


class PatientSignupForm(SignupForm):
    """Public sign-up makes patients only; staff accounts are created by admins."""

    full_name = forms.CharField(
        label=_("Full name"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    preferred_name = forms.CharField(
        label=_("Preferred name (optional)"),
        max_length=60,
        required=False,
        help_text=_("Shown to your group instead of your full name."),
    )

    field_order = ["full_name", "preferred_name", "email", "password1", "password2"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.label_suffix = ""  # as the sign-in form

    def save(self, request: HttpRequest) -> User:
        user: User = super().save(request)
        user.full_name = self.cleaned_data["full_name"].strip()
        user.preferred_name = self.cleaned_data.get("preferred_name", "").strip()
        user.role = Role.PATIENT
        user.save(update_fields=["full_name", "preferred_name", "role"])
        profile_ensure(user=user)
        return user


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["full_name", "preferred_name", "pronouns", "phone", "time_zone"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["phone"].widget.attrs.update({"autocomplete": "tel", "inputmode": "tel"})
        self.fields["full_name"].widget.attrs.update({"autocomplete": "name"})
