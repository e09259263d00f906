"""Generic validation and scoring over the instrument definitions in ``registry``.

Nothing here knows a particular instrument: skip logic, reversed items, sex-specific cut-offs
and triage rules are all read from the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.measures.registry import Band, Cond, Instrument, Item


class AnswersInvalid(Exception):
    """Raised with ``errors``: item key -> message. Nothing is stored when raised."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class FlagHit:
    code: str
    severity: str
    reason: str
    show_crisis: bool


@dataclass(frozen=True)
class Score:
    answers: dict[str, int]
    total: int | None
    band: str
    band_label: str
    flags: list[FlagHit] = field(default_factory=list)


def _holds(cond: Cond, values: Mapping[str, object]) -> bool:
    if cond.key not in values:
        return False
    actual = values[cond.key]
    if cond.op == "eq":
        return actual == cond.value
    if cond.op == "ne":
        return actual != cond.value
    if cond.op == "in":
        return actual in cond.value  # type: ignore[operator]
    if not isinstance(actual, int) or not isinstance(cond.value, int):
        return False
    if cond.op == "gte":
        return actual >= cond.value
    if cond.op == "lte":
        return actual <= cond.value
    raise ValueError(f"unknown operator {cond.op}")


def any_group_holds(groups: tuple[tuple[Cond, ...], ...], values: Mapping[str, object]) -> bool:
    return any(all(_holds(c, values) for c in group) for group in groups)


def _is_asked(item: Item, answers: Mapping[str, int]) -> bool:
    return all(_holds(c, answers) for c in item.ask_if)


def _coerce(raw: object) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw.strip())
    return None


def clean_answers(instrument: Instrument, raw: Mapping[str, object]) -> dict[str, int]:
    """Return the answers to the items that were asked, as ints; raise AnswersInvalid.

    Items are visited in order so skip logic sees earlier answers. Answers to items that were
    not asked (e.g. C-SSRS Q3 after "no" to Q2) are discarded, not stored.
    """
    if not isinstance(raw, Mapping):
        raise AnswersInvalid({"__all__": _("Answers must be a mapping of question to answer.")})
    answers: dict[str, int] = {}
    errors: dict[str, str] = {}
    for item in instrument.items:
        if not _is_asked(item, answers):
            continue
        value = raw.get(item.key)
        if value in (None, ""):
            if item.required:
                errors[item.key] = _("Please answer this question.")
            continue
        number = _coerce(value)
        if number is None or number not in {c.value for c in item.choices}:
            errors[item.key] = _("Choose one of the answers offered.")
            continue
        answers[item.key] = number
    if errors:
        raise AnswersInvalid(errors)
    return answers


def _bands_for(instrument: Instrument, answers: Mapping[str, int]) -> tuple[Band, ...]:
    if instrument.band_variant_item:
        item = instrument.item(instrument.band_variant_item)
        choice = next(c for c in item.choices if c.value == answers[item.key])
        return instrument.band_variants[choice.key]
    return instrument.bands


def score(instrument: Instrument, raw: Mapping[str, object]) -> Score:
    """Validate ``raw`` answers and score them: total, band and flags."""
    answers = clean_answers(instrument, raw)
    total: int | None = None
    if instrument.band_method == "sum":
        total = 0
        for item in instrument.items:
            if item.scored and item.key in answers:
                choice = next(c for c in item.choices if c.value == answers[item.key])
                total += choice.points
    band: Band | None = None
    bands = _bands_for(instrument, answers)
    if instrument.band_method == "triage":
        band = next((b for b in bands if any_group_holds(b.any_of, answers)), None)
    else:
        assert total is not None
        band = next((b for b in bands if b.min <= total <= b.max), None)
    if band is None:  # a definition error, not bad input
        raise ValueError(f"{instrument.code}: no band for answers")
    values: dict[str, object] = {**answers, "total": total, "band": band.code}
    flags = [
        FlagHit(rule.code, rule.severity, str(rule.reason), rule.show_crisis)
        for rule in instrument.flag_rules
        if any_group_holds(rule.any_of, values)
    ]
    return Score(
        answers=answers, total=total, band=band.code, band_label=str(band.label), flags=flags
    )


# Change since baseline, with the measurement-based-care conventions (shared/CLINICAL.md):
# response is a drop of at least 50% from baseline; remission is a PHQ-9 (or GAD-7) total
# under 5; a change of 5 or more PHQ-9 points is meaningful (the same bar for GAD-7).
REMISSION_BELOW = {"phq9": 5, "gad7": 5}
MEANINGFUL_POINTS = 5
STATUS_LABELS = {
    "remission": gettext_lazy("Remission"),
    "response": gettext_lazy("Response"),
    "improved": gettext_lazy("Improved"),
    "worse": gettext_lazy("Worse"),
    "no_change": gettext_lazy("No clear change"),
}


@dataclass(frozen=True)
class Change:
    code: str
    baseline: int
    current: int
    delta: int
    response: bool
    remission: bool
    meaningful: bool

    @property
    def improved(self) -> bool:
        return self.meaningful and self.delta < 0

    @property
    def worsened(self) -> bool:
        return self.meaningful and self.delta > 0

    @property
    def delta_text(self) -> str:
        return f"+{self.delta}" if self.delta > 0 else str(self.delta)

    @property
    def percent(self) -> int | None:
        if not self.baseline:
            return None
        return round(100 * self.delta / self.baseline)

    @property
    def status(self) -> str:
        """One word for badges and filters: remission > response > improved > worse > same."""
        if self.remission:
            return "remission"
        if self.response:
            return "response"
        if self.improved:
            return "improved"
        if self.worsened:
            return "worse"
        return "no_change"

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS[self.status])


def change_summary(
    instrument_code: str, baseline: int | None, current: int | None
) -> Change | None:
    """The change from ``baseline`` (the first score of the episode of care, see
    ``progress.selectors.episodes``) to ``current``; None without both."""
    if baseline is None or current is None:
        return None
    delta = current - baseline
    threshold = REMISSION_BELOW.get(instrument_code)
    return Change(
        code=instrument_code,
        baseline=baseline,
        current=current,
        delta=delta,
        response=baseline > 0 and -delta * 2 >= baseline,
        remission=threshold is not None and current < threshold,
        meaningful=abs(delta) >= MEANINGFUL_POINTS,
    )
