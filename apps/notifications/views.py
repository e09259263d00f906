"""Thin views: the in-app list, preferences, phone verification and unsubscribe."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.http import AuthenticatedHttpRequest
from apps.notifications import selectors, services
from apps.notifications.forms import CodeForm, PhoneForm, PreferencesForm
from apps.notifications.models import SAFETY_KINDS, Kind
from apps.notifications.unsubscribe import unsubscribe_token_read

LIST_LIMIT = 50


@login_required
@require_GET
def notification_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    items = list(selectors.notifications_for(user=request.user)[:LIST_LIMIT])
    unread = sum(1 for n in items if n.read_at is None)
    return render(request, "notifications/list.html", {"items": items, "unread": unread})


@login_required
@require_GET
def unread_badge(request: AuthenticatedHttpRequest) -> JsonResponse:
    """The unread count, and with ``?after=<id>`` the newer notifications (bell polling)."""
    user = request.user
    data: dict[str, object] = {"unread": selectors.unread_count(user=user)}
    after = request.GET.get("after", "")
    if after:
        if not after.isdigit() or len(after) > 18:
            return JsonResponse({"error": "after must be a notification id"}, status=400)
        data["items"] = [
            {
                "type": "notification",
                "id": n.pk,
                "kind": n.kind,
                "title": n.title,
                "body": n.body,
                "link": n.link,
                "urgent": n.kind in SAFETY_KINDS,
            }
            for n in selectors.notifications_after(user=user, after_id=int(after))
        ]
    return JsonResponse(data)


@login_required
@require_POST
def notification_read(request: AuthenticatedHttpRequest, notification_id: int) -> HttpResponse:
    item = selectors.notification_get_for_user(user=request.user, notification_id=notification_id)
    if item is None:
        raise Http404
    services.notification_mark_read(user=request.user, notification_id=item.pk)
    item.refresh_from_db(fields=["read_at"])  # the swapped-in item must show it read
    if request.POST.get("open") and url_has_allowed_host_and_scheme(
        item.link, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(item.link)
    if request.htmx:
        return render(request, "notifications/partials/item.html", {"item": item})
    return redirect("notifications:list")


@login_required
@require_POST
def notification_read_all(request: AuthenticatedHttpRequest) -> HttpResponse:
    count = services.notifications_mark_all_read(user=request.user)
    messages.success(request, _("%(n)d marked as read.") % {"n": count})
    return redirect("notifications:list")


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    prefs = selectors.preferences_map(user=user)
    current = selectors.settings_for(user=user)
    initial = {
        "quiet_enabled": current.quiet_start is not None,
        "quiet_start": current.quiet_start,
        "quiet_end": current.quiet_end,
        "reminder_leads": current.reminder_leads_minutes,
        "checkin_time": current.checkin_time,
    }
    role = getattr(user, "role", "patient")
    form = PreferencesForm(request.POST or None, role=role, prefs=prefs, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        quiet = data.get("quiet_enabled")
        try:
            services.preferences_update(user=user, choices=form.choices())
            services.notification_settings_update(
                user=user,
                quiet_start=data.get("quiet_start") if quiet else None,
                quiet_end=data.get("quiet_end") if quiet else None,
                reminder_leads_minutes=data.get("reminder_leads", current.reminder_leads_minutes),
                checkin_time=data.get("checkin_time") if role == "patient" else None,
            )
        except services.NotificationError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Your notification settings are saved."))
            return redirect("notifications:preferences")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "notifications/preferences.html",
        {
            "form": form,
            "settings_row": current,
            "phone_form": PhoneForm(),
            "code_form": CodeForm(),
            "channels": [("email", _("E-mail")), ("sms", _("SMS")), ("in_app", _("In the app"))],
        },
        status=status,
    )


@login_required
@require_POST
def phone_verify(request: AuthenticatedHttpRequest) -> HttpResponse:
    action = request.POST.get("action")
    user = request.user
    if action == "send":
        form = PhoneForm(request.POST)
        if form.is_valid():
            try:
                services.phone_verification_start(user=user, phone=form.cleaned_data["phone"])
            except services.NotificationError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, _("We sent a code by text message."))
        else:
            messages.error(request, _("Enter a mobile number."))
    elif action == "confirm":
        code_form = CodeForm(request.POST)
        if code_form.is_valid() and services.phone_verification_confirm(
            user=user,
            code=code_form.cleaned_data["code"],
        ):
            messages.success(request, _("Your phone is verified. Text messages are on."))
        else:
            messages.error(request, _("That code is wrong or has expired. Ask for a new one."))
    elif action == "remove":
        services.phone_remove(user=user)
        messages.success(request, _("Text messages are off; your number is removed."))
    else:
        messages.error(request, _("Unknown action."))
    return redirect("notifications:preferences")


@csrf_exempt  # the signed token is the credential; mail clients POST without a session
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    read = unsubscribe_token_read(token)
    if read is None:
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=404)
    kind_label = Kind(read[1]).label
    if request.method == "POST":
        done = services.unsubscribe_apply(token=token)
        if done is None:
            return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=404)
        return render(
            request, "notifications/unsubscribe.html", {"done": True, "kind_label": kind_label}
        )
    return render(request, "notifications/unsubscribe.html", {"kind_label": kind_label})
