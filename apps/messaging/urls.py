from __future__ import annotations

from django.urls import path

from apps.messaging import views

app_name = "messaging"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("new/", views.compose, name="compose"),
    path("unread/", views.unread_badge, name="unread_badge"),
    path("<int:thread_id>/", views.thread_detail, name="thread"),
    path("<int:thread_id>/reply/", views.reply, name="reply"),
    path("<int:thread_id>/since/", views.messages_since, name="since"),
    path("<int:thread_id>/archive/", views.archive, name="archive"),
    path("<int:thread_id>/assign/", views.assign, name="assign"),
    path("<int:thread_id>/close/", views.close, name="close"),
    path("<int:thread_id>/file/", views.file_in_chart, name="file"),
    path("attachments/<int:attachment_id>/", views.attachment_download, name="attachment"),
]
