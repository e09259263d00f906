from __future__ import annotations

import datetime as dt
import io
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django.utils.functional import empty
from PIL import Image

from apps.enrollment import services
from apps.enrollment.models import ConsentSignature
from apps.measures.services import safety_flag_raise
from tests.enrollment.factories import walk_to_admitted
from tests.factories import patient_in


@pytest.fixture
def applicant(program):
    """A new patient account with no program yet (signed up, about to apply)."""
    return patient_in(None, email="applicant@example.test", full_name="Andy Applicant")


@pytest.fixture
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path
    from apps.enrollment.models import private_storage

    private_storage._wrapped = empty
    yield tmp_path
    private_storage._wrapped = empty


def png_bytes(size=(20, 12)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


GOALS = [
    {
        "goal": "Sleep better",
        "objective": "6 h sleep 5 nights a week",
        "target_date": dt.date(2030, 1, 1),
    }
]


@pytest.fixture
def world(patient, program, clinician, private_media):
    """The member patient admitted to ``program`` with every kind of record, and a
    discharged former patient of the same program."""
    app = walk_to_admitted(patient, program, clinician)
    # insurance with a card image, written directly (the step is closed after submit)
    from apps.enrollment.models import Insurance

    insurance = Insurance.objects.get(application=app)
    insurance.self_pay = False
    insurance.payer = "Acme Health"
    insurance.member_id = "M-123"
    insurance.card_front.save("front.png", SimpleUploadedFile("front.png", png_bytes()), save=False)
    insurance.card_front_type = "image/png"
    insurance.save()
    plan = services.treatment_plan_save(
        patient=patient,
        program=program,
        by=clinician,
        problems="Member problem text",
        interventions="CBT skills group",
        review_date=dt.date(2030, 1, 1),
        goals=GOALS,
    )
    safety = services.safety_plan_save(
        patient=patient, by=clinician, data={"warning_signs": "Member warning signs"}
    )
    flag = safety_flag_raise(
        patient=patient, program=program, severity="high", source="phq9_item9", reason="test"
    )
    alumnus = patient_in(program, email="alumnus@example.test", full_name="Alum Former")
    old = walk_to_admitted(alumnus, program, clinician)
    services.application_discharge(application=old, by=clinician, data={"reason": "completed"})
    return SimpleNamespace(
        application=app,
        signature=ConsentSignature.objects.filter(patient=patient).first(),
        plan=plan,
        safety=safety,
        flag=flag,
        discharged=old,
        alumnus=alumnus,
        now=timezone.now(),
    )
