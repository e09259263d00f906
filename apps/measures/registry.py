"""Standardised instruments as DATA: items, choices, skip logic, bands and flag rules.

A new instrument is a new ``Instrument(...)`` entry in ``INSTRUMENTS``; scoring
(``apps.measures.scoring``) is generic over these definitions. Item texts, bands and flag
rules follow the published manuals summarised in shared/CLINICAL.md.

Conditions are small data triples ``Cond(key, op, value)`` where ``key`` is an item key,
``"total"`` or ``"band"``; a rule fires when ANY of its ``any_of`` groups has ALL of its
conditions true.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

Op = Literal["eq", "ne", "gte", "lte", "in"]
Text = str | Promise


@dataclass(frozen=True)
class Cond:
    key: str
    op: Op
    value: object


@dataclass(frozen=True)
class Choice:
    value: int
    label: Text
    # What the choice adds to the total; defaults to ``value``. Reverse-scored items (DAST-10
    # item 3) say so here, in data.
    score: int | None = None
    key: str = ""

    @property
    def points(self) -> int:
        return self.value if self.score is None else self.score


@dataclass(frozen=True)
class Item:
    key: str
    text: Text
    choices: tuple[Choice, ...]
    scored: bool = True
    required: bool = True
    # Skip logic: the item is asked only when every condition holds (e.g. C-SSRS Q3-5 only
    # after "yes" to Q2). Answers to items that were not asked are discarded.
    ask_if: tuple[Cond, ...] = ()
    hint: Text = ""


@dataclass(frozen=True)
class Band:
    code: str
    label: Text
    min: int = 0
    max: int = 0
    # Triage-style instruments (C-SSRS) pick the first band whose rule fires instead of
    # using the total.
    any_of: tuple[tuple[Cond, ...], ...] = ()


@dataclass(frozen=True)
class FlagRule:
    code: str
    severity: Literal["urgent", "high", "moderate"]
    reason: Text
    any_of: tuple[tuple[Cond, ...], ...]
    # Show the crisis-resources page to the person who just answered.
    show_crisis: bool = True


@dataclass(frozen=True)
class Instrument:
    code: str
    name: Text
    short_name: str
    instructions: Text
    items: tuple[Item, ...]
    bands: tuple[Band, ...] = ()
    # Bands chosen by the answer to one (unscored) item, keyed by that choice's ``key``
    # (AUDIT-C: different cut-offs for women and men).
    band_variant_item: str = ""
    band_variants: dict[str, tuple[Band, ...]] = field(default_factory=dict)
    # "sum": bands by total; "triage": first band whose rule fires.
    band_method: Literal["sum", "triage"] = "sum"
    flag_rules: tuple[FlagRule, ...] = ()
    max_total: int | None = None
    substance_use_only: bool = False
    source: str = ""

    def item(self, key: str) -> Item:
        for item in self.items:
            if item.key == key:
                return item
        raise KeyError(key)

    def all_bands(self) -> tuple[Band, ...]:
        if self.band_variants:
            out: list[Band] = []
            for bands in self.band_variants.values():
                out.extend(b for b in bands if b.code not in {x.code for x in out})
            return tuple(out)
        return self.bands

    def band_label(self, code: str) -> str:
        for band in self.all_bands():
            if band.code == code:
                return str(band.label)
        return code


FREQ_2W = (
    Choice(0, _("Not at all")),
    Choice(1, _("Several days")),
    Choice(2, _("More than half the days")),
    Choice(3, _("Nearly every day")),
)
YES_NO = (Choice(1, _("Yes"), key="yes"), Choice(0, _("No"), key="no"))


def _freq_items(prefix: str, texts: list[Text]) -> tuple[Item, ...]:
    return tuple(
        Item(key=f"{prefix}{n}", text=text, choices=FREQ_2W) for n, text in enumerate(texts, 1)
    )


PHQ9 = Instrument(
    code="phq9",
    name=_("Patient Health Questionnaire (PHQ-9)"),
    short_name="PHQ-9",
    instructions=_(
        "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
    ),
    items=(
        *_freq_items(
            "q",
            [
                _("Little interest or pleasure in doing things"),
                _("Feeling down, depressed, or hopeless"),
                _("Trouble falling or staying asleep, or sleeping too much"),
                _("Feeling tired or having little energy"),
                _("Poor appetite or overeating"),
                _(
                    "Feeling bad about yourself — or that you are a failure or have let "
                    "yourself or your family down"
                ),
                _(
                    "Trouble concentrating on things, such as reading the newspaper or "
                    "watching television"
                ),
                _(
                    "Moving or speaking so slowly that other people could have noticed? Or the "
                    "opposite — being so fidgety or restless that you have been moving around "
                    "a lot more than usual"
                ),
                _("Thoughts that you would be better off dead or of hurting yourself in some way"),
            ],
        ),
        Item(
            key="difficulty",
            text=_(
                "If you checked off any problems, how difficult have these problems made it for "
                "you to do your work, take care of things at home, or get along with other people?"
            ),
            choices=(
                Choice(0, _("Not difficult at all")),
                Choice(1, _("Somewhat difficult")),
                Choice(2, _("Very difficult")),
                Choice(3, _("Extremely difficult")),
            ),
            scored=False,
            required=False,
        ),
    ),
    bands=(
        Band("minimal", _("Minimal"), 0, 4),
        Band("mild", _("Mild"), 5, 9),
        Band("moderate", _("Moderate"), 10, 14),
        Band("moderately_severe", _("Moderately severe"), 15, 19),
        Band("severe", _("Severe"), 20, 27),
    ),
    flag_rules=(
        # Item 9 > 0 needs same-day clinician follow-up whatever the total (PHQ-9 manual).
        FlagRule(
            code="phq9_item9",
            severity="high",
            reason=_("PHQ-9 item 9 (thoughts of death or self-harm) answered above 0"),
            any_of=((Cond("q9", "gte", 1),),),
        ),
    ),
    max_total=27,
    source="Kroenke, Spitzer & Williams 2001; public domain (Pfizer).",
)

GAD7 = Instrument(
    code="gad7",
    name=_("Generalized Anxiety Disorder scale (GAD-7)"),
    short_name="GAD-7",
    instructions=_(
        "Over the last 2 weeks, how often have you been bothered by the following problems?"
    ),
    items=_freq_items(
        "q",
        [
            _("Feeling nervous, anxious, or on edge"),
            _("Not being able to stop or control worrying"),
            _("Worrying too much about different things"),
            _("Trouble relaxing"),
            _("Being so restless that it is hard to sit still"),
            _("Becoming easily annoyed or irritable"),
            _("Feeling afraid, as if something awful might happen"),
        ],
    ),
    bands=(
        Band("minimal", _("Minimal"), 0, 4),
        Band("mild", _("Mild"), 5, 9),
        Band("moderate", _("Moderate"), 10, 14),
        Band("severe", _("Severe"), 15, 21),
    ),
    max_total=21,
    source="Spitzer et al. 2006; public domain.",
)

_Q2_YES = (Cond("q2", "eq", 1),)
CSSRS = Instrument(
    code="cssrs",
    name=_("Columbia Suicide Severity Rating Scale — screener"),
    short_name="C-SSRS",
    instructions=_("In the past month…"),
    items=(
        Item(
            "q1",
            _("Have you wished you were dead or wished you could go to sleep and not wake up?"),
            YES_NO,
        ),
        Item("q2", _("Have you actually had any thoughts about killing yourself?"), YES_NO),
        Item(
            "q3",
            _("Have you been thinking about how you might do this?"),
            YES_NO,
            ask_if=_Q2_YES,
            hint=_("Only if you answered Yes to question 2."),
        ),
        Item(
            "q4",
            _("Have you had these thoughts and had some intention of acting on them?"),
            YES_NO,
            ask_if=_Q2_YES,
            hint=_("Only if you answered Yes to question 2."),
        ),
        Item(
            "q5",
            _(
                "Have you started to work out or worked out the details of how to kill "
                "yourself? Do you intend to carry out this plan?"
            ),
            YES_NO,
            ask_if=_Q2_YES,
            hint=_("Only if you answered Yes to question 2."),
        ),
        Item(
            "q6",
            _(
                "Have you ever done anything, started to do anything, or prepared to do "
                "anything to end your life?"
            ),
            YES_NO,
        ),
        Item(
            "q6_recent",
            _("Was this within the past 3 months?"),
            YES_NO,
            ask_if=(Cond("q6", "eq", 1),),
            hint=_("Only if you answered Yes to question 6."),
        ),
    ),
    band_method="triage",
    bands=(
        Band(
            "high",
            _("High risk"),
            any_of=(
                (Cond("q4", "eq", 1),),
                (Cond("q5", "eq", 1),),
                (Cond("q6", "eq", 1), Cond("q6_recent", "eq", 1)),
            ),
        ),
        Band(
            "moderate",
            _("Moderate risk"),
            any_of=((Cond("q3", "eq", 1),), (Cond("q6", "eq", 1), Cond("q6_recent", "eq", 0))),
        ),
        Band("low", _("Low risk"), any_of=((Cond("q1", "eq", 1),), (Cond("q2", "eq", 1),))),
        Band("none", _("No risk identified"), any_of=((),)),
    ),
    flag_rules=(
        FlagRule(
            code="cssrs_high",
            severity="urgent",
            reason=_("C-SSRS screener: high risk"),
            any_of=((Cond("band", "eq", "high"),),),
        ),
        FlagRule(
            code="cssrs_moderate",
            severity="moderate",
            reason=_("C-SSRS screener: moderate risk"),
            any_of=((Cond("band", "eq", "moderate"),),),
        ),
    ),
    source="Posner et al.; Columbia Lighthouse Project screen version (free for clinical use).",
)

AUDITC = Instrument(
    code="auditc",
    name=_("Alcohol Use Disorders Identification Test — Consumption (AUDIT-C)"),
    short_name="AUDIT-C",
    instructions=_("These questions are about your use of alcohol."),
    items=(
        Item(
            "q1",
            _("How often do you have a drink containing alcohol?"),
            (
                Choice(0, _("Never")),
                Choice(1, _("Monthly or less")),
                Choice(2, _("2–4 times a month")),
                Choice(3, _("2–3 times a week")),
                Choice(4, _("4 or more times a week")),
            ),
        ),
        Item(
            "q2",
            _("How many standard drinks containing alcohol do you have on a typical day?"),
            (
                Choice(0, _("1 or 2")),
                Choice(1, _("3 or 4")),
                Choice(2, _("5 or 6")),
                Choice(3, _("7 to 9")),
                Choice(4, _("10 or more")),
            ),
        ),
        Item(
            "q3",
            _("How often do you have six or more drinks on one occasion?"),
            (
                Choice(0, _("Never")),
                Choice(1, _("Less than monthly")),
                Choice(2, _("Monthly")),
                Choice(3, _("Weekly")),
                Choice(4, _("Daily or almost daily")),
            ),
        ),
        Item(
            "sex",
            _("The published cut-offs differ by sex. Which should be used for you?"),
            (
                Choice(0, _("Female cut-off (3 or more)"), key="female"),
                Choice(1, _("Male cut-off (4 or more)"), key="male"),
            ),
            scored=False,
        ),
    ),
    band_variant_item="sex",
    band_variants={
        "female": (Band("negative", _("Negative"), 0, 2), Band("positive", _("Positive"), 3, 12)),
        "male": (Band("negative", _("Negative"), 0, 3), Band("positive", _("Positive"), 4, 12)),
    },
    max_total=12,
    substance_use_only=True,
    source="Bush et al. 1998; Bradley et al. 2007.",
)

# DAST-10 item 3 is reverse-scored: "No" scores 1.
_DAST_REVERSED = (Choice(1, _("Yes"), score=0, key="yes"), Choice(0, _("No"), score=1, key="no"))
DAST10 = Instrument(
    code="dast10",
    name=_("Drug Abuse Screening Test (DAST-10)"),
    short_name="DAST-10",
    instructions=_(
        "These questions refer to the past 12 months and to drugs other than alcohol, "
        "including medicines used other than as prescribed."
    ),
    items=tuple(
        Item(f"q{n}", text, _DAST_REVERSED if n == 3 else YES_NO)
        for n, text in enumerate(
            [
                _("Have you used drugs other than those required for medical reasons?"),
                _("Do you use more than one drug at a time?"),
                _("Are you always able to stop using drugs when you want to?"),
                _('Have you had "blackouts" or "flashbacks" as a result of drug use?'),
                _("Do you ever feel bad or guilty about your drug use?"),
                _("Does your spouse (or parents) ever complain about your involvement with drugs?"),
                _("Have you neglected your family because of your use of drugs?"),
                _("Have you engaged in illegal activities in order to obtain drugs?"),
                _(
                    "Have you ever experienced withdrawal symptoms (felt sick) when you stopped "
                    "taking drugs?"
                ),
                _(
                    "Have you had medical problems as a result of your drug use (e.g. memory "
                    "loss, hepatitis, convulsions, bleeding)?"
                ),
            ],
            1,
        )
    ),
    bands=(
        Band("none", _("No problems reported"), 0, 0),
        Band("low", _("Low level"), 1, 2),
        Band("moderate", _("Moderate level"), 3, 5),
        Band("substantial", _("Substantial level"), 6, 8),
        Band("severe", _("Severe level"), 9, 10),
    ),
    max_total=10,
    substance_use_only=True,
    source="Skinner 1982.",
)

INSTRUMENTS: dict[str, Instrument] = {i.code: i for i in (PHQ9, GAD7, CSSRS, AUDITC, DAST10)}


def instrument_get(code: str) -> Instrument | None:
    return INSTRUMENTS.get(code)


def intake_instruments(*, substance_use: bool) -> list[Instrument]:
    """The screening battery for an application: all programs, plus AUDIT-C and DAST-10 for
    substance-use programs."""
    return [i for i in INSTRUMENTS.values() if substance_use or not i.substance_use_only]
