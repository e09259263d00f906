"""The private iCalendar feed and its settings."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from apps.accounts.http import AuthenticatedHttpRequest
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.scheduling import selectors, services
from apps.scheduling.ical import calendar_for_user
from apps.scheduling.models import CalendarFeed


@login_required
@require_http_methods(["GET", "POST"])
def calendar_settings(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "rotate":
            services.calendar_feed_rotate(user=user)
            messages.success(request, _("New calendar link made. The old link no longer works."))
        elif action == "revoke":
            services.calendar_feed_revoke(user=user)
            messages.success(request, _("Calendar link turned off."))
        else:
            return HttpResponseBadRequest(_("Unknown action."))
        return redirect("scheduling:calendar")
    feed = CalendarFeed.objects.filter(user=user).first()
    url = (
        request.build_absolute_uri(reverse("scheduling:feed", args=[feed.token])) if feed else None
    )
    return render(request, "scheduling/calendar.html", {"feed": feed, "feed_url": url})


@never_cache
@require_GET
def feed(request: HttpRequest, token: str) -> HttpResponse:
    """The private iCalendar feed. The token is the credential; unknown tokens get 404."""
    user = selectors.calendar_feed_user(token=token)
    if user is None:
        raise Http404
    CalendarFeed.objects.filter(token=token).update(last_fetched_at=timezone.now())
    body = calendar_for_user(user=user)
    audit_record(
        actor=user,
        action=AuditAction.EXPORT,
        object_type="scheduling.calendarfeed",
        object_id=user.pk,
        patient=user if user.is_patient else None,
        detail="ics feed",
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="schedule.ics"'
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"
    return response
