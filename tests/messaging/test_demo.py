"""The demo seed gives patient1 a clinical thread with replies and patient2 a scheduling
question needing a reply, and is idempotent."""

from __future__ import annotations

import io

import pytest

from apps.accounts import demo as accounts_demo
from apps.messaging import demo
from apps.messaging.models import Audience, Message, Thread
from apps.notifications.models import Outbox
from apps.programs.models import ProgramStaff

pytestmark = pytest.mark.django_db


def test_demo_threads_and_idempotent():
    out = io.StringIO()
    accounts_demo.seed(out)
    demo.seed(out)
    counts = (Thread.objects.count(), Message.objects.count())
    demo.seed(out)
    assert (Thread.objects.count(), Message.objects.count()) == counts == (2, 5)
    clinical = Thread.objects.get(audience=Audience.CLINICAL)
    assert clinical.patient.email == "patient1@demo.test" and not clinical.needs_reply
    scheduling = Thread.objects.get(audience=Audience.SCHEDULING)
    assert scheduling.needs_reply
    # The demo admin answers Scheduling and Billing (no front-desk person in the demo).
    told = set(
        Outbox.objects.filter(event_key__startswith="messaging.message:")
        .filter(event_key__in=[f"messaging.message:{m.pk}" for m in scheduling.messages.all()])
        .values_list("recipient__email", flat=True)
    )
    assert told == {"admin@demo.test"}
    staff = ProgramStaff.objects.get(user__email="admin@demo.test")
    assert staff.front_desk and staff.billing
