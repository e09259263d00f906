"""Writes for scheduling. Every entry point (views, admin, tasks, other apps) calls these.

Each public service checks access and validates, then writes inside one transaction; bad
input raises ``SchedulingError`` (a ValidationError subclass, with a user-facing message)
and writes nothing. The modules follow the app's parts; callers import from here.
"""

# ruff: noqa: F401 - names re-exported for callers

from apps.scheduling.services.appointments import (
    appointment_book,
    appointment_reschedule,
    appointment_set_status,
    appointments_cancel_for_patient,
    availability_exception_add,
    availability_set,
)
from apps.scheduling.services.attendance import (
    AttendanceEntry,
    attendance_confirm_roster,
    attendance_record_location,
    attendance_record_presence,
)
from apps.scheduling.services.common import GroupFullError, SchedulingError
from apps.scheduling.services.feeds import calendar_feed_revoke, calendar_feed_rotate
from apps.scheduling.services.groups import (
    GroupSeries,
    group_create,
    group_update_series,
    session_cancel,
    session_update,
    sessions_cancel_many,
    sessions_extend_all,
    sessions_generate,
)
from apps.scheduling.services.memberships import (
    membership_add,
    membership_end,
    memberships_end_for_patient,
)
from apps.scheduling.services.offers import (
    seat_offer_accept,
    seat_offer_confirm,
    seat_offer_decline,
    seat_offer_skip,
    seat_offers_expire,
    seat_offers_fill,
)
