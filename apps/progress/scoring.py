"""Change since baseline, with the measurement-based-care conventions (shared/CLINICAL.md):

- **response**: a drop of at least 50% from baseline;
- **remission**: PHQ-9 (or GAD-7) total under 5;
- **meaningful change**: 5 or more PHQ-9 points (we use the same bar for GAD-7).

Response and remission come from ``apps.measures.scoring.change_summary`` so the two apps can
never disagree; this module adds the meaningful-change rule and the plain-language summary.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.measures.scoring import change_summary

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


def change_between(code: str, baseline: int | None, current: int | None) -> Change | None:
    base = change_summary(code, baseline, current)
    if base is None:
        return None
    return Change(
        code=code,
        baseline=base.baseline,
        current=base.current,
        delta=base.delta,
        response=base.response,
        remission=base.remission,
        meaningful=abs(base.delta) >= MEANINGFUL_POINTS,
    )


def change_sentence(short_name: str, change: Change | None, *, own: bool) -> str:
    """ "Your PHQ-9 went from 16 to 9 since admission" (``own``) or the clinician's version."""
    if change is None:
        return ""
    values = {"name": short_name, "start": change.baseline, "end": change.current}
    if change.delta == 0:
        text = (
            _("Your %(name)s is %(end)s, the same as at admission.")
            if own
            else _("%(name)s is %(end)s, the same as at admission.")
        )
    else:
        text = (
            _("Your %(name)s went from %(start)s to %(end)s since admission.")
            if own
            else _("%(name)s went from %(start)s to %(end)s since admission.")
        )
    text = text % values
    if change.remission:
        text += " " + _("That is below 5, the usual mark of remission.")
    elif change.response:
        text += " " + _(
            "That is a drop of half or more, the usual mark of a response to treatment."
        )
    elif change.worsened:
        text += " " + _("That is a rise of 5 points or more.")
    return text
