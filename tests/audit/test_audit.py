from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from apps.audit.models import AuditEvent, AuditImmutableError
from apps.audit.services import audit_record

pytestmark = pytest.mark.django_db


def test_audit_record_stores_who_did_what_to_whom(clinician, patient):
    event = audit_record(
        actor=clinician, action="view", obj=patient, patient=patient, detail="chart"
    )
    event.refresh_from_db()
    assert event.actor == clinician
    assert event.patient == patient
    assert event.object_type == "accounts.user"
    assert event.object_id == str(patient.pk)
    assert event.action == "view"


def test_audit_record_takes_request_id_and_ip_from_the_request(client, login, patient):
    login(client, patient)
    response = client.get("/")
    request_id = response["X-Request-ID"]
    from apps.core import requestcontext

    token = requestcontext.set_current(
        requestcontext.RequestContext(request_id=request_id, ip="10.1.2.3")
    )
    try:
        event = audit_record(actor=patient, action="view", object_type="x", object_id=1)
    finally:
        requestcontext.reset(token)
    assert event.request_id == request_id
    assert event.ip == "10.1.2.3"


def test_audit_event_cannot_be_edited(clinician, patient):
    event = audit_record(actor=clinician, action="view", obj=patient, patient=patient)
    event.detail = "tampered"
    with pytest.raises(AuditImmutableError):
        event.save()
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.filter(pk=event.pk).update(detail="tampered")
    event.refresh_from_db()
    assert event.detail == ""


def test_audit_event_cannot_be_deleted(clinician, patient):
    event = audit_record(actor=clinician, action="view", obj=patient, patient=patient)
    with pytest.raises(AuditImmutableError):
        event.delete()
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="database trigger is PostgreSQL-only")
def test_database_refuses_raw_update_and_delete(clinician, patient):
    event = audit_record(actor=clinician, action="view", obj=patient, patient=patient)
    for sql in (
        "UPDATE audit_auditevent SET detail = 'x' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).detail == ""


def test_admin_shows_the_trail_read_only(client, login, admin, clinician, patient):
    event = audit_record(actor=clinician, action="view", obj=patient, patient=patient)
    login(client, admin)
    listing = client.get("/admin/audit/auditevent/")
    assert listing.status_code == 200
    assert clinician.email.encode() in listing.content or str(clinician).encode() in listing.content
    filtered = client.get(f"/admin/audit/auditevent/?patient__id__exact={patient.pk}")
    assert filtered.status_code == 200
    # No add, no delete, and the change form is read-only.
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert (
        client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"detail": "tampered"})
    event.refresh_from_db()
    assert event.detail == ""


@pytest.mark.skipif(connection.vendor != "postgresql", reason="database trigger is PostgreSQL-only")
@pytest.mark.django_db(transaction=True)  # the row committed, as a real trail's rows are
def test_database_refuses_truncate_of_the_audit_trail(clinician, patient):
    event = audit_record(actor=clinician, action="view", obj=patient, patient=patient)
    with (
        pytest.raises(DatabaseError, match="TRUNCATE refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        # As any connection but the test suite's own flush.
        cursor.execute("SET LOCAL virtualiop.allow_audit_truncate = 'off'")
        cursor.execute("TRUNCATE audit_auditevent")
    assert AuditEvent.objects.filter(pk=event.pk).exists()
