"""Reads for measurement-based care. The modules follow the app's parts; callers import
from here. Access is decided in ``access``."""

# ruff: noqa: F401 - names re-exported for callers

from apps.progress.selectors.access import (
    is_clinician,
    outcome_programs_for,
    progress_patient_get_for_viewer,
)
from apps.progress.selectors.caseload import (
    CASELOAD_SORTS,
    CaseloadRow,
    caseload_page,
    caseload_rows,
    sort_caseload,
)
from apps.progress.selectors.checkins import (
    BACKFILL_DAYS,
    SkillChoice,
    checked_in_on,
    checkin_averages,
    checkin_for_day,
    checkins_between,
    skills_for,
)
from apps.progress.selectors.engagement import homework_summary, weeks_of_hours
from apps.progress.selectors.episodes import (
    Episode,
    episode_for,
    local_today,
    patient_program,
    patient_zone,
)
from apps.progress.selectors.outcomes import (
    ProgramOutcome,
    program_outcomes,
    quarter_of,
    quarterly_outcomes,
)
from apps.progress.selectors.scores import (
    CHART_INSTRUMENTS,
    SUD_INSTRUMENTS,
    DueMeasure,
    ScorePoint,
    measure_due_get,
    measure_series,
    measure_series_many,
    measures_due,
    responses_with_items,
)
