"""Every media decision: who gets a Janus token and TURN credential, for which room, until
when; what the host may do to whom. Janus is told after the database has decided."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.enrollment.models import ReleaseOfInformation
from apps.enrollment.selectors import release_is_active, release_is_active_now
from apps.rooms import services as room_services
from apps.rooms.models import ParticipantStatus
from apps.rooms.selectors import room_live_until
from apps.scheduling.models import PatientLocation
from apps.scheduling.services import (
    SchedulingError,
    attendance_record_location,
    attendance_record_presence,
)
from apps.video import janus, selectors, tokens
from apps.video.models import GuestRole, Seat, SeatStatus, VideoRoom, VisitGuest
from apps.video.selectors import SESSION, Target, seats, video_enabled

if TYPE_CHECKING:
    from apps.accounts.models import User

logger = logging.getLogger(__name__)

# A browser in the room reports every few seconds; silent this long, its media time ends.
MEDIA_STALE_AFTER = dt.timedelta(seconds=45)
MAX_PLACE_CHARS = 120
# The mids janus.js gives our publisher's offer: the microphone first, then the camera, then a
# shared screen. A lock mutes them in Janus, whatever the browser does.
AUDIO_MIDS = ("0",)
VIDEO_MIDS = ("1", "2")


class VideoError(Exception):
    status = 400

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class VideoForbidden(VideoError):
    status = 403


class VideoNotFound(VideoError):
    status = 404


class VideoRateLimited(VideoError):
    status = 429


class VideoUnavailable(VideoError):
    status = 503


def _unavailable() -> VideoUnavailable:
    return VideoUnavailable(
        _("Video is not available right now. The chat still works."), code="unavailable"
    )


def _room_for_update(target: Target) -> VideoRoom:
    lookup = (
        {"session": target.session}
        if target.kind == SESSION
        else {"appointment": target.appointment}
    )
    try:
        with transaction.atomic():
            room, _created = VideoRoom.objects.get_or_create(**lookup)
    except IntegrityError:  # created by a concurrent join
        pass
    return VideoRoom.objects.select_for_update().get(**lookup)


def _seat_status(target: Target, seat: Seat) -> str:
    """A group session follows the chat lobby; a visit's patient waits for the clinician."""
    if seat.status == SeatStatus.REMOVED:
        return SeatStatus.REMOVED
    if target.is_host:
        return SeatStatus.ADMITTED
    if target.kind == SESSION:
        if target.chat_status == ParticipantStatus.REMOVED:
            return SeatStatus.REMOVED
        if target.chat_status == ParticipantStatus.ADMITTED:
            return SeatStatus.ADMITTED
        return SeatStatus.WAITING
    return seat.status or SeatStatus.WAITING


def _clean_location(location: str, place: str) -> tuple[str, str]:
    place = " ".join((place or "").split())
    if location not in PatientLocation.values:
        raise VideoError(_("Tell us where you are right now."), code="location")
    if location == PatientLocation.ELSEWHERE and not place:
        raise VideoError(_("Tell us the city and state you are in."), code="location")
    if len(place) > MAX_PLACE_CHARS:
        raise VideoError(_("That place name is too long."), code="location")
    return location, place if location == PatientLocation.ELSEWHERE else ""


# Each join asks Janus two questions; a waiting browser asks every 3 s (20 a minute).
JOINS_PER_MINUTE = 40


def _too_many_joins(target: Target) -> bool:
    who = f"g{target.guest.pk}" if target.guest is not None else f"u{getattr(target.user, 'pk', 0)}"
    key = f"video:joins:{who}"
    cache.add(key, 0, timeout=60)
    try:
        return cache.incr(key) > JOINS_PER_MINUTE
    except ValueError:  # expired between add and incr
        return False


def video_join(*, target: Target, location: str = "", place: str = "") -> dict[str, Any]:
    """Ask to join: a waiting answer, or everything the browser needs to publish."""
    if _too_many_joins(target):
        raise VideoRateLimited(_("Too many tries. Wait a minute, then join again."), code="rate")
    if not video_enabled():
        raise VideoUnavailable(_("Video is not available on this server."), code="disabled")
    if target.chat_status == ParticipantStatus.REMOVED:
        raise VideoForbidden(_("You have been removed from this session."), code="removed")
    if not target.live:
        raise VideoError(_("This room is not open."), code="closed")
    user = target.user
    with transaction.atomic():
        room = _room_for_update(target)
        if room.ended_at is not None:
            raise VideoError(_("This session has ended."), code="closed")
        seat = Seat.objects.filter(room=room, **target.who).first()
        if seat is None and room.locked and not target.is_host:
            # A locked visit lets nobody new in, not even into its waiting room.
            raise VideoForbidden(_("The clinician has locked this visit."), code="locked")
        seat, created = Seat.objects.get_or_create(
            room=room,
            **target.who,
            defaults={"is_host": target.is_host, "status": SeatStatus.WAITING},
        )
        status = _seat_status(target, seat)
        if status == SeatStatus.REMOVED:
            if seat.status != SeatStatus.REMOVED:
                seat.status = SeatStatus.REMOVED
                seat.save(update_fields=["status"])
            raise VideoForbidden(_("You have been removed from this session."), code="removed")
        fields = []
        if status != seat.status:
            seat.status = status
            fields.append("status")
            if status == SeatStatus.ADMITTED:
                seat.admitted_at = timezone.now()
                fields.append("admitted_at")
        if user is not None and user.is_patient and (location or not seat.location):
            seat.location, seat.location_place = _clean_location(location, place)
            fields += ["location", "location_place"]
            if target.session is not None:
                try:
                    attendance_record_location(
                        session=target.session,
                        patient=user,
                        location=seat.location,
                        place=seat.location_place,
                    )
                except SchedulingError as exc:
                    raise VideoError(str(exc), code="location") from exc
        if fields:
            seat.save(update_fields=fields)
        if created:
            audit_record(
                actor=user,
                action=AuditAction.CREATE,
                obj=seat,
                patient=_patient_of(target),
                detail=f"video seat {target.kind}" + (" guest" if target.guest else ""),
            )
    if seat.status != SeatStatus.ADMITTED:
        return {"status": "waiting", "locked": room.locked}
    try:
        _janus_room_ready(room, seat)
    except janus.JanusError as exc:
        logger.warning("video: janus refused a join: %s", exc)
        raise _unavailable() from exc
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        obj=room,
        patient=_patient_of(target),
        detail=f"video token {target.kind}" + (" guest" if target.guest else ""),
    )
    return _credentials(target, room, seat)


def _patient_of(target: Target) -> User | None:
    """Whose record an event belongs to: the patient joining, or the visit's patient."""
    if target.is_patient:
        return target.user
    if target.appointment is not None:
        return target.appointment.patient
    return None


def _janus_room_ready(room: VideoRoom, seat: Seat) -> None:
    """Create the Janus room if Janus lacks it (first join, or Janus restarted) with every
    admitted seat's ACL token; else add this seat's token."""
    if janus.room_exists(room=room.janus_room):
        janus.room_allow(room=room.janus_room, secret=room.secret, tokens_=[seat.acl_token])
        return
    allowed = list(
        Seat.objects.filter(room=room, status=SeatStatus.ADMITTED).values_list(
            "acl_token", flat=True
        )
    )
    try:
        janus.room_create(
            room=room.janus_room,
            pin=room.pin,
            secret=room.secret,
            publishers=settings.VIDEO_MAX_PUBLISHERS,
            allowed=allowed,
        )
    except janus.JanusError as exc:
        if exc.code != 427:  # created by a concurrent join: add ours to it
            raise
        janus.room_allow(room=room.janus_room, secret=room.secret, tokens_=[seat.acl_token])


def _credentials(target: Target, room: VideoRoom, seat: Seat) -> dict[str, Any]:
    now = tokens.now()
    closes = int(target.closes_at.timestamp()) + 15 * 60
    expires = max(now + 60, min(closes, now + settings.VIDEO_TOKEN_MAX_SECONDS))
    ice: list[dict[str, Any]] = []
    if settings.TURN_URLS:
        username, credential = tokens.turn_credentials(
            secret=settings.TURN_SECRET, opaque_id=seat.display, expires_at=expires
        )
        ice.append({"urls": settings.TURN_URLS, "username": username, "credential": credential})
    return {
        "status": "admitted",
        "server": settings.JANUS_WS_URL,
        "token": tokens.janus_token(secret=settings.JANUS_TOKEN_SECRET, expires_at=expires),
        "expires_at": expires,
        "room": room.janus_room,
        "pin": room.pin,
        "feed": seat.feed_id,
        "display": seat.display,
        "acl": seat.acl_token,
        "ice_servers": ice,
        "relay_only": settings.VIDEO_FORCE_RELAY,
        **_me(target, room, seat),
    }


def _me(target: Target, room: VideoRoom, seat: Seat | None) -> dict[str, Any]:
    return {
        "seat": seat.status if seat else "none",
        "audio_locked": bool(seat and seat.audio_locked),
        "video_locked": bool(seat and seat.video_locked),
        "may_share": target.is_host or room.members_may_share,
    }


# --- The room's state, polled by every browser in it --------------------------------------


def video_state(*, target: Target, in_media: bool = False) -> dict[str, Any]:
    """What the browser shows: its own seat, the names behind the opaque displays, and for the
    host who waits and where each patient is. ``in_media``: this browser is publishing."""
    room = target.room()
    if room is None or not target.live:
        # Not (or no longer) in the live room: nothing about who is in it.
        seat = selectors.seat_of(target) if room is not None else None
        return {"seat": seat.status if seat else "none", "ended": True, "roster": {}}
    now = timezone.now()
    all_seats = seats(room)
    mine = next((s for s in all_seats if _is_mine(target, s)), None)
    if mine is not None and mine.status == SeatStatus.ADMITTED and in_media:
        _media_seen(target, mine, now)
    roster = {}
    for seat in all_seats:
        if seat.status != SeatStatus.ADMITTED:
            continue
        entry: dict[str, Any] = {
            "user_id": seat.user_id,
            "seat_id": seat.pk,
            "name": seat.name,
            "host": seat.is_host,
        }
        if target.is_host:
            entry.update(_host_view(seat))
        roster[seat.display] = entry
    data: dict[str, Any] = {
        **_me(target, room, mine),
        "ended": room.ended_at is not None or not target.live,
        "locked": room.locked,
        "members_may_share": room.members_may_share,
        "roster": roster,
    }
    if target.is_host:
        data["waiting"] = [
            {"user_id": s.user_id, "seat_id": s.pk, "name": s.name, **_host_view(s)}
            for s in all_seats
            if s.status == SeatStatus.WAITING
        ]
        _host_sweep(target, room, all_seats, now)
    return data


def _is_mine(target: Target, seat: Seat) -> bool:
    if target.guest is not None:
        return seat.guest_id == target.guest.pk
    return target.user is not None and seat.user_id == target.user.pk


def _host_view(seat: Seat) -> dict[str, Any]:
    return {
        "location": seat.get_location_display() if seat.location else "",
        "place": seat.location_place,
        "pos": seat.place_of_service,
        "audio_locked": seat.audio_locked,
        "video_locked": seat.video_locked,
        "in_media": seat.media_joined_at is not None,
    }


def _media_seen(target: Target, seat: Seat, now: dt.datetime) -> None:
    fields = ["media_seen_at"]
    seat.media_seen_at = now
    if seat.media_joined_at is None:
        seat.media_joined_at = now
        fields.append("media_joined_at")
        if target.session is not None and target.user is not None:
            attendance_record_presence(
                session=target.session, patient=target.user, joined_at=now, left_at=None
            )
    Seat.objects.filter(pk=seat.pk).update(**{f: getattr(seat, f) for f in fields})


def _media_left(seat: Seat, session: Any, left_at: dt.datetime) -> None:
    if seat.media_joined_at is None:
        return
    if session is not None and seat.user is not None:
        attendance_record_presence(
            session=session, patient=seat.user, joined_at=seat.media_joined_at, left_at=left_at
        )
    Seat.objects.filter(pk=seat.pk).update(media_joined_at=None)
    seat.media_joined_at = None


def _host_sweep(target: Target, room: VideoRoom, all_seats: list[Seat], now: dt.datetime) -> None:
    """On the host's poll: close the media time of browsers gone silent, and make Janus agree
    with Django (a feed whose id and display match no admitted seat is kicked; a lock is
    applied again to a feed that published since)."""
    for seat in all_seats:
        if (
            seat.media_joined_at
            and seat.media_seen_at
            and now - seat.media_seen_at > MEDIA_STALE_AFTER
        ):
            _media_left(seat, target.session, seat.media_seen_at)
    if not cache.add(f"video:sweep:{room.pk}", 1, timeout=10):
        return
    admitted = {(s.feed_id, s.display): s for s in all_seats if s.status == SeatStatus.ADMITTED}
    try:
        for participant in janus.participants(room=room.janus_room):
            feed = int(participant.get("id") or 0)
            matched = admitted.get((feed, str(participant.get("display", ""))))
            if matched is None:
                janus.kick(room=room.janus_room, secret=room.secret, feed=feed)
                logger.warning("video: kicked a feed that matches no seat")
                continue
            if participant.get("publisher") and (matched.audio_locked or matched.video_locked):
                _apply_locks(room, matched)
    except janus.JanusError as exc:
        logger.warning("video: sweep could not reach janus: %s", exc)


def _apply_locks(room: VideoRoom, seat: Seat) -> None:
    for mid in AUDIO_MIDS:
        janus.moderate(
            room=room.janus_room,
            secret=room.secret,
            feed=seat.feed_id,
            mid=mid,
            mute=seat.audio_locked,
        )
    for mid in VIDEO_MIDS:
        janus.moderate(
            room=room.janus_room,
            secret=room.secret,
            feed=seat.feed_id,
            mid=mid,
            mute=seat.video_locked,
        )


def video_leave(*, target: Target) -> None:
    room = target.room()
    if room is None:
        return
    seat = Seat.objects.filter(room=room, **target.who).select_related("user").first()
    if seat is not None:
        _media_left(seat, target.session, timezone.now())


# --- The host's controls ----------------------------------------------------------------

HOST_ACTIONS = (
    "admit",
    "admit_all",
    "mute",
    "release_mute",
    "stop_video",
    "release_video",
    "remove",
    "lock",
    "unlock",
    "share_on",
    "share_off",
    "end",
)


def video_moderate(
    *, target: Target, action: str, user_id: int | None = None, seat_id: int | None = None
) -> None:
    """One host action. Group sessions share admit, remove, lock and end with the chat room
    (one rule: the chat services decide, the room hooks tell Janus)."""
    if not target.is_host:
        raise VideoForbidden(_("Only the host can do that."), code="forbidden")
    if action not in HOST_ACTIONS:
        raise VideoError(_("Unknown action."), code="invalid")
    if not target.live:
        raise VideoError(_("This room is not open."), code="closed")
    by = target.user
    assert by is not None  # a host is a signed-in clinician
    if target.kind == SESSION and action in (
        "admit",
        "admit_all",
        "remove",
        "lock",
        "unlock",
        "end",
    ):
        _session_action(target, action, user_id)
        return
    room = target.room()
    if room is None:
        raise VideoNotFound(_("Nobody has joined yet."), code="not_found")
    if action in ("lock", "unlock", "share_on", "share_off", "end", "admit_all"):
        _room_action(target, room, action)
        return
    if user_id is None and seat_id is None:
        raise VideoNotFound(_("That person is not in this room."), code="not_found")
    # A guest has no account: the host names them by their seat.
    whom = {"pk": seat_id} if seat_id is not None else {"user_id": user_id}
    with transaction.atomic():
        seat = (
            Seat.objects.select_for_update(of=("self",))
            .select_related("user", "guest")
            .filter(room=room, is_host=False, **whom)
            .first()
        )
        if seat is None:
            raise VideoNotFound(_("That person is not in this room."), code="not_found")
        if action == "admit":
            if seat.status != SeatStatus.WAITING:
                raise VideoError(_("That person is not waiting."), code="not_waiting")
            seat.status, seat.admitted_at = SeatStatus.ADMITTED, timezone.now()
            seat.save(update_fields=["status", "admitted_at"])
        elif action == "remove":
            seat.status, seat.removed_at = SeatStatus.REMOVED, timezone.now()
            seat.save(update_fields=["status", "removed_at"])
        else:
            field = "audio_locked" if action in ("mute", "release_mute") else "video_locked"
            setattr(seat, field, action in ("mute", "stop_video"))
            seat.save(update_fields=[field])
        audit_record(
            actor=by,
            action=AuditAction.MODERATE,
            obj=seat,
            patient=seat.user or _patient_of(target),
            detail=f"video {action}",
        )
    try:
        if action == "remove":
            _eject(room, seat)
        elif action in ("mute", "release_mute", "stop_video", "release_video"):
            _apply_locks(room, seat)
    except janus.JanusError as exc:
        logger.warning("video: janus refused %s: %s", action, exc)
        raise _unavailable() from exc


def _session_action(target: Target, action: str, user_id: int | None) -> None:
    session_id = target.pk
    by = target.user
    assert by is not None
    try:
        if action == "admit":
            room_services.room_admit(by=by, session_id=session_id, user_id=int(user_id or 0))
        elif action == "admit_all":
            room_services.room_admit_all(by=by, session_id=session_id)
        elif action == "remove":
            room_services.room_member_remove(
                by=by, session_id=session_id, user_id=int(user_id or 0)
            )
        elif action in ("lock", "unlock"):
            room_services.room_lock(by=by, session_id=session_id, locked=action == "lock")
        elif action == "end":
            room_services.room_end(by=by, session_id=session_id)
    except room_services.RoomError as exc:
        raise VideoError(str(exc), code=getattr(exc, "code", "invalid")) from exc


def _room_action(target: Target, room: VideoRoom, action: str) -> None:
    with transaction.atomic():
        room = VideoRoom.objects.select_for_update().get(pk=room.pk)
        if action in ("lock", "unlock"):
            room.locked = action == "lock"
            room.save(update_fields=["locked"])
        elif action in ("share_on", "share_off"):
            room.members_may_share = action == "share_on"
            room.save(update_fields=["members_may_share"])
        elif action == "admit_all":
            Seat.objects.filter(room=room, status=SeatStatus.WAITING).update(
                status=SeatStatus.ADMITTED, admitted_at=timezone.now()
            )
        elif action == "end" and room.ended_at is None:
            room.ended_at = timezone.now()
            room.save(update_fields=["ended_at"])
        audit_record(
            actor=target.user,
            action=AuditAction.MODERATE,
            obj=room,
            patient=target.appointment.patient if target.appointment else None,
            detail=f"video {action}",
        )
    if action == "end":
        video_room_close(room)


def _eject(room: VideoRoom, seat: Seat) -> None:
    """Out of Janus now and for good: kicked, and its ACL token withdrawn."""
    janus.room_allow(
        room=room.janus_room, secret=room.secret, tokens_=[seat.acl_token], action="remove"
    )
    janus.kick(room=room.janus_room, secret=room.secret, feed=seat.feed_id)


def video_seat_removed(*, session_id: int, user_id: int) -> None:
    """The chat room removed someone: the media room follows."""
    room = VideoRoom.objects.filter(session_id=session_id).first()
    if room is None:
        return
    seat = Seat.objects.filter(room=room, user_id=user_id).first()
    if seat is None:
        return
    if seat.status != SeatStatus.REMOVED:
        Seat.objects.filter(pk=seat.pk).update(status=SeatStatus.REMOVED, removed_at=timezone.now())
    try:
        _eject(room, seat)
    except janus.JanusError as exc:
        logger.warning("video: could not eject a removed member: %s", exc)


def video_room_close(room: VideoRoom) -> None:
    """Destroy the Janus room: every browser in it is told, and nobody can join again."""
    now = timezone.now()
    if room.ended_at is None:
        VideoRoom.objects.filter(pk=room.pk, ended_at__isnull=True).update(ended_at=now)
    for seat in Seat.objects.filter(room=room, media_joined_at__isnull=False).select_related(
        "user"
    ):
        _media_left(seat, room.session, now)
    try:
        janus.room_destroy(room=room.janus_room, secret=room.secret)
    except janus.JanusError as exc:
        logger.warning("video: could not destroy a room: %s", exc)


def video_rooms_tidy(*, now: dt.datetime | None = None) -> int:
    """Close the media rooms whose session or visit has closed (nobody stays in a room that
    the schedule says is over), and end the media time of browsers gone silent when no host
    is polling. Returns how many rooms it closed. Idempotent."""
    now = now or timezone.now()
    stale = now - MEDIA_STALE_AFTER
    for seat in Seat.objects.filter(
        media_joined_at__isnull=False, media_seen_at__lt=stale
    ).select_related("user", "room__session"):
        _media_left(seat, seat.room.session, seat.media_seen_at or now)
    closed = 0
    for room in VideoRoom.objects.filter(ended_at__isnull=True).select_related(
        "session__group", "appointment"
    ):
        if room.session is not None:
            target_open = room.session.status == "scheduled" and now < room_live_until(
                session=room.session
            )
        else:
            assert room.appointment is not None
            target_open = room.appointment.join_is_open(now)
        if not target_open:
            video_room_close(room)
            closed += 1
    return closed


# --- Guests -------------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def guest_invite(
    *,
    target: Target,
    name: str,
    role: str,
    patient_agreed: bool,
    release: ReleaseOfInformation | None = None,
) -> str:
    """A one-time link for a family member or interpreter to join this visit; only its hash is
    kept. The clinician confirms the patient agreed; a family member or support person also
    needs an active release of information of this patient naming them (``release``), and
    their name is taken from it."""
    if not target.is_host or target.appointment is None or target.user is None:
        raise VideoForbidden(_("Only the visit's clinician can invite someone."), code="forbidden")
    if not target.live:
        raise VideoError(_("The visit is not open."), code="closed")
    if not patient_agreed:
        raise VideoError(_("A guest may join only with the patient's agreement."), code="consent")
    if role not in GuestRole.values:
        raise VideoError(_("Give their first name and how they join."), code="invalid")
    if role in (GuestRole.FAMILY, GuestRole.SUPPORT):
        if release is None:
            raise VideoError(
                _("A family member or support person needs the patient's release of information."),
                code="consent",
            )
        # Locked, so a revocation made at this moment is either seen or waits for us.
        release = (
            ReleaseOfInformation.objects.select_for_update(of=("self",))
            .select_related("patient", "revocation")
            .filter(pk=release.pk, patient_id=target.appointment.patient_id)
            .first()
        )
        if release is None or not release_is_active(release):
            raise VideoError(
                _("That release is not active (unsigned, revoked or expired)."), code="consent"
            )
        name = release.recipient_first_name
    else:
        release = None
    name = " ".join(name.split())[:60]
    if not name:
        raise VideoError(_("Give their first name and how they join."), code="invalid")
    if (
        VisitGuest.objects.filter(appointment=target.appointment, revoked_at__isnull=True).count()
        >= 2
    ):
        raise VideoError(_("A visit has at most two guests."), code="full")
    token = secrets.token_urlsafe(24)
    guest = VisitGuest.objects.create(
        appointment=target.appointment,
        name=name,
        role=role,
        token_hash=_token_hash(token),
        invited_by=target.user,
        patient_agreed=True,
        release=release,
        expires_at=target.appointment.join_closes_at,
    )
    audit_record(
        actor=target.user,
        action=AuditAction.CREATE,
        obj=guest,
        patient=target.appointment.patient,
        detail=f"video guest invited ({role})" + (" under release" if release else ""),
    )
    return settings.SITE_URL.rstrip("/") + reverse("video:guest_redeem", args=[token])


def _guest_release_ok(guest: VisitGuest) -> bool:
    """A guest invited under a release may use the link only while it is active: read fresh,
    so a revocation a moment ago counts."""
    return guest.release_id is None or release_is_active_now(release_id=guest.release_id)


def guest_redeem(*, token: str, session: Any) -> VisitGuest | None:
    """The invitation behind ``token`` for this browser session: the first session to open the
    link keeps it; any other gets None, as do revoked and expired links."""
    if len(token) > 64:
        return None
    now = timezone.now()
    with transaction.atomic():
        guest = (
            VisitGuest.objects.select_for_update()
            .filter(token_hash=_token_hash(token), revoked_at__isnull=True, expires_at__gt=now)
            .first()
        )
        if guest is None or not _guest_release_ok(guest):
            return None
        if not session.session_key:
            session.save()
        if guest.session_key and guest.session_key != session.session_key:
            return None
        if not guest.session_key:
            guest.session_key, guest.used_at = session.session_key, now
            guest.save(update_fields=["session_key", "used_at"])
            audit_record(
                actor=None,
                action=AuditAction.UPDATE,
                obj=guest,
                patient=guest.appointment.patient,
                detail="video guest link opened",
            )
    return guest


def guest_for_session(*, guest_id: Any, session: Any) -> VisitGuest | None:
    if not isinstance(guest_id, int) or not session.session_key:
        return None
    guest = (
        VisitGuest.objects.select_related("appointment__patient", "appointment__clinician")
        .filter(pk=guest_id, session_key=session.session_key, revoked_at__isnull=True)
        .first()
    )
    return guest if guest is not None and _guest_release_ok(guest) else None
