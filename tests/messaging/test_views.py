"""Pages: who may see what (outsider, other program's clinician, logged out refused), bad
input answered with a clear error and nothing written, audit of every read, the attachment
download's headers, the chart section, and a query-count pin on the inbox."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.audit.models import AuditAction, AuditEvent
from apps.messaging import services
from apps.messaging.models import Audience, Message, Thread
from tests.messaging.conftest import cid, pdf_upload, png_upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def thread(patient):
    thread, _ = services.thread_start(
        by=patient,
        audience=Audience.CLINICAL,
        subject="Sleep",
        body="I slept <script>alert(1)</script> **badly**",
        client_id=cid(),
        upload=pdf_upload(),
    )
    return thread


def _thread_urls(thread):
    attachment = Message.objects.filter(thread=thread).first().attachments.first()
    return [
        reverse("messaging:thread", args=[thread.pk]),
        reverse("messaging:attachment", args=[attachment.pk]),
    ]


def test_logged_out_is_sent_to_sign_in(client, thread):
    for url in [reverse("messaging:inbox"), reverse("messaging:compose"), *_thread_urls(thread)]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    response = client.post(reverse("messaging:reply", args=[thread.pk]), {"body": "x"})
    assert response.status_code == 302
    assert Message.objects.count() == 1


@pytest.mark.parametrize("who", ["outsider", "other_clinician"])
def test_outsiders_get_404_on_thread_attachment_and_actions(client, login, thread, who, request):
    login(client, request.getfixturevalue(who))
    for url in _thread_urls(thread):
        assert client.get(url).status_code == 404
    for name, data in [
        ("messaging:reply", {"body": "x", "client_id": cid()}),
        ("messaging:archive", {"archived": "1"}),
        ("messaging:assign", {"assignee": ""}),
        ("messaging:close", {"closed": "1"}),
        ("messaging:file", {}),
    ]:
        assert client.post(reverse(name, args=[thread.pk]), data).status_code == 404
    assert Message.objects.count() == 1
    thread.refresh_from_db()
    assert thread.closed_at is None and thread.filed_at is None
    assert thread not in client.get(reverse("messaging:inbox")).context["threads"]


def test_patient_cannot_read_another_patients_thread(client, login, thread, program):
    from tests.factories import patient_in

    other = patient_in(program, email="same.program@example.test")
    login(client, other)
    for url in _thread_urls(thread):
        assert client.get(url).status_code == 404


def test_patient_cannot_use_staff_actions(client, login, thread, patient):
    login(client, patient)
    assert client.post(reverse("messaging:file", args=[thread.pk])).status_code == 404
    assert (
        client.post(reverse("messaging:close", args=[thread.pk]), {"closed": "1"}).status_code
        == 404
    )


def test_thread_read_is_audited_and_body_sanitised(client, login, thread, clinician):
    login(client, clinician)
    response = client.get(reverse("messaging:thread", args=[thread.pk]))
    html = response.content.decode()
    assert "<strong>badly</strong>" in html and "<script>alert" not in html
    assert AuditEvent.objects.filter(
        actor=clinician, action=AuditAction.VIEW, object_id=str(thread.pk), detail="thread read"
    ).exists()


def test_attachment_download_is_audited_and_never_inline(client, login, thread, clinician):
    login(client, clinician)
    url = _thread_urls(thread)[1]
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "letter" not in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    b"".join(response.streaming_content)
    assert AuditEvent.objects.filter(actor=clinician, action=AuditAction.EXPORT).exists()


def test_compose_shows_reply_expectation_and_988(client, login, patient, program):
    program.message_reply_expectation = "We answer within one business day."
    program.save(update_fields=["message_reply_expectation"])
    login(client, patient)
    html = client.get(reverse("messaging:compose")).content.decode()
    assert "We answer within one business day." in html
    assert "not for emergencies" in html and 'href="tel:988"' in html
    assert reverse("crisis") in html


def test_compose_post_creates_thread_and_redirects(client, login, patient):
    login(client, patient)
    response = client.post(
        reverse("messaging:compose"),
        {
            "audience": "clinical",
            "subject": "Hi",
            "body": "Hello",
            "client_id": cid(),
            "attachment": png_upload(),
        },
    )
    thread = Thread.objects.get()
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("messaging:thread", args=[thread.pk]))


@pytest.mark.parametrize(
    "data,text",
    [
        ({"body": ""}, "Write a message"),
        ({"audience": "everyone"}, "Choose who"),
        ({"client_id": ""}, "expired"),
    ],
)
def test_compose_bad_input_clear_error_nothing_written(client, login, patient, data, text):
    login(client, patient)
    post = {"audience": "clinical", "subject": "Hi", "body": "Hello", "client_id": cid(), **data}
    response = client.post(reverse("messaging:compose"), post)
    assert response.status_code == 400 and text in response.content.decode()
    assert Thread.objects.count() == 0


def test_nul_byte_is_refused_with_400(client, login, thread, patient):
    login(client, patient)
    response = client.post(
        reverse("messaging:reply", args=[thread.pk]), {"body": "a\x00b", "client_id": cid()}
    )
    assert response.status_code == 400
    assert Message.objects.count() == 1


def test_disguised_attachment_on_reply_gives_form_error(client, login, thread, patient):
    from django.core.files.uploadedfile import SimpleUploadedFile

    login(client, patient)
    fake = SimpleUploadedFile("x.pdf", b"<html>not a pdf</html>", "application/pdf")
    response = client.post(
        reverse("messaging:reply", args=[thread.pk]),
        {"body": "see file", "client_id": cid(), "attachment": fake},
    )
    assert response.status_code == 400
    assert "PNG or JPEG" in response.content.decode()
    assert Message.objects.count() == 1


def test_double_submitted_reply_is_stored_once(client, login, thread, patient):
    login(client, patient)
    data = {"body": "once", "client_id": cid()}
    url = reverse("messaging:reply", args=[thread.pk])
    assert client.post(url, data).status_code == 302
    assert client.post(url, data).status_code == 302
    assert Message.objects.filter(body="once").count() == 1


def test_closed_thread_reply_gives_clear_error(client, login, thread, patient, clinician):
    services.thread_close(thread=thread, by=clinician, closed=True)
    login(client, patient)
    response = client.post(
        reverse("messaging:reply", args=[thread.pk]), {"body": "x", "client_id": cid()}
    )
    assert response.status_code == 400 and "closed" in response.content.decode()
    assert Message.objects.count() == 1


def test_unread_badge(client, login, thread, clinician, patient):
    login(client, clinician)
    assert b">1<" in client.get(reverse("messaging:unread_badge")).content
    client.get(reverse("messaging:thread", args=[thread.pk]))
    assert b"badge" not in client.get(reverse("messaging:unread_badge")).content


def test_nav_has_messages_link(client, login, patient):
    login(client, patient)
    html = client.get(reverse("messaging:inbox")).content.decode()
    assert reverse("messaging:unread_badge") in html and ">Messages" in html


def test_filed_thread_shows_in_staff_chart(client, login, thread, clinician, patient):
    services.thread_file(thread=thread, by=clinician)
    login(client, clinician)
    html = client.get(reverse("progress:chart", args=[patient.pk])).content.decode()
    assert "Messages filed in the chart" in html and "Sleep" in html


def test_inbox_query_count_is_pinned(client, login, clinician, program, django_assert_num_queries):
    """Session, user, MFA, programs… then one query for the threads with the viewer's state,
    patient and assignee: the same count for 3 threads as for 9 (no N+1)."""
    from tests.factories import patient_in

    def add(n: int) -> None:
        for i in range(n):
            p = patient_in(program)
            services.thread_start(
                by=p, audience=Audience.BILLING, subject=f"S{i}", body="b", client_id=cid()
            )

    login(client, clinician)
    add(3)
    client.get(reverse("messaging:inbox"))  # warm the session
    with django_assert_num_queries(9):
        response = client.get(reverse("messaging:inbox") + "?filter=needs_reply")
    assert len(response.context["threads"]) == 3
    add(6)
    with django_assert_num_queries(9):
        response = client.get(reverse("messaging:inbox") + "?filter=needs_reply")
    assert len(response.context["threads"]) == 9


def test_an_admin_edits_the_front_desk_and_billing_functions(client, login, admin, program):
    from tests.factories import clinician_in

    clinician_in(program)
    login(client, admin)
    response = client.get(reverse("admin:programs_program_change", args=[program.pk]))
    page = response.content.decode()
    assert 'name="staff-0-front_desk"' in page and 'name="staff-0-billing"' in page
    (staff_formset,) = [
        f for f in response.context["inline_admin_formsets"] if f.formset.prefix == "staff"
    ]
    assert {"front_desk", "billing", "on_call"} <= set(staff_formset.formset.form.base_fields)
