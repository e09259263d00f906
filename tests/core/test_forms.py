from django import forms
from django.core.exceptions import ValidationError

from apps.core.forms import add_service_errors


class _Form(forms.Form):
    name = forms.CharField(required=False)


def _bound() -> _Form:
    form = _Form({"name": "x"})
    assert form.is_valid()
    return form


def test_service_field_error_lands_on_that_field():
    form = _bound()
    add_service_errors(form, ValidationError({"name": "Taken.", "other": "Not a field here."}))
    assert form.errors["name"] == ["Taken."]
    assert form.non_field_errors() == ["Not a field here."]


def test_service_message_error_lands_above_the_form():
    form = _bound()
    add_service_errors(form, ValidationError(["First.", "Second."]))
    assert form.non_field_errors() == ["First.", "Second."]
    assert "name" not in form.errors
