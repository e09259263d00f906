"""The shape of a skills module's content, validated on load (pydantic).

A module file (``apps/homework/content/*.yaml``) is checked against ``ModuleSpec`` before
anything reaches the database; the same models check a version an admin types in. The
validated content is stored as JSON on ``ModuleVersion`` and read back through
``ModuleSpec.model_validate`` so views work with typed steps.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SLUG = r"^[a-z0-9][a-z0-9-]{0,59}$"
STEP_ID = r"^[a-z0-9][a-z0-9-]{0,39}$"

SkillArea = Literal[
    "stress_management",
    "emotion_regulation",
    "relapse_prevention",
    "distress_tolerance",
    "interpersonal_effectiveness",
    "mindfulness",
    "psychoeducation",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"duplicate {what} id '{item}'")
        seen.add(item)


class _Step(_Strict):
    id: str = Field(pattern=STEP_ID)
    title: str = Field(min_length=1, max_length=120)
    required: bool = True


class ReadingStep(_Step):
    kind: Literal["reading"]
    body: str = Field(min_length=1, max_length=20_000)


class ReflectionStep(_Step):
    kind: Literal["reflection"]
    prompt: str = Field(min_length=1, max_length=1000)
    min_length: int = Field(default=1, ge=0, le=5000)
    max_length: int = Field(default=2000, ge=1, le=10_000)

    @model_validator(mode="after")
    def _lengths(self) -> ReflectionStep:
        if self.min_length > self.max_length:
            raise ValueError("min_length is greater than max_length")
        return self


class RatingStep(_Step):
    kind: Literal["rating"]
    prompt: str = Field(min_length=1, max_length=1000)
    low_label: str = Field(default="", max_length=60)
    high_label: str = Field(default="", max_length=60)


class QuizOption(_Strict):
    id: str = Field(pattern=STEP_ID)
    text: str = Field(min_length=1, max_length=300)
    correct: bool = False
    feedback: str = Field(min_length=1, max_length=600)


class QuizStep(_Step):
    kind: Literal["quiz"]
    question: str = Field(min_length=1, max_length=600)
    multiple: bool = False
    options: list[QuizOption] = Field(min_length=2, max_length=10)

    @model_validator(mode="after")
    def _options(self) -> QuizStep:
        _unique([o.id for o in self.options], "option")
        correct = sum(1 for o in self.options if o.correct)
        if correct == 0:
            raise ValueError("a quiz needs at least one correct option")
        if not self.multiple and correct != 1:
            raise ValueError("a single-choice quiz needs exactly one correct option")
        return self


class ChecklistItem(_Strict):
    id: str = Field(pattern=STEP_ID)
    text: str = Field(min_length=1, max_length=300)


class ChecklistStep(_Step):
    kind: Literal["checklist"]
    prompt: str = Field(default="", max_length=600)
    items: list[ChecklistItem] = Field(min_length=1, max_length=30)
    min_checked: int = Field(default=1, ge=0)

    @model_validator(mode="after")
    def _items(self) -> ChecklistStep:
        _unique([i.id for i in self.items], "item")
        if self.min_checked > len(self.items):
            raise ValueError("min_checked is more than the number of items")
        return self


class LogField(_Strict):
    """One typed field of a practice-log entry. ``scale`` is 0-10."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,29}$")
    label: str = Field(min_length=1, max_length=80)
    type: Literal["scale", "number", "text", "time"]
    help: str = Field(default="", max_length=200)
    required: bool = True
    min: int = 0
    max: int = 600
    max_length: int = Field(default=500, ge=1, le=2000)

    @model_validator(mode="after")
    def _range(self) -> LogField:
        if self.id in {"id", "date"}:
            raise ValueError(f"'{self.id}' is reserved for every entry")
        if self.min > self.max:
            raise ValueError("min is greater than max")
        return self


class LogChart(_Strict):
    title: str = Field(min_length=1, max_length=120)
    series: list[str] = Field(min_length=1, max_length=3)


class PracticeLogStep(_Step):
    kind: Literal["practice_log"]
    prompt: str = Field(min_length=1, max_length=1000)
    fields: list[LogField] = Field(min_length=1, max_length=8)
    min_entries: int = Field(default=1, ge=0, le=50)
    max_entries: int = Field(default=100, ge=1, le=366)
    chart: LogChart | None = None

    @model_validator(mode="after")
    def _fields(self) -> PracticeLogStep:
        _unique([f.id for f in self.fields], "field")
        if self.min_entries > self.max_entries:
            raise ValueError("min_entries is greater than max_entries")
        if self.chart is not None:
            kinds = {f.id: f.type for f in self.fields}
            for name in self.chart.series:
                if kinds.get(name) != "scale":
                    raise ValueError(f"chart series '{name}' is not a scale field of this log")
        return self

    def field(self, field_id: str) -> LogField | None:
        return next((f for f in self.fields if f.id == field_id), None)


class WorksheetField(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,29}$")
    label: str = Field(min_length=1, max_length=120)
    help: str = Field(default="", max_length=300)
    multiline: bool = True
    required: bool = True
    max_length: int = Field(default=2000, ge=1, le=10_000)


class WorksheetStep(_Step):
    kind: Literal["worksheet"]
    prompt: str = Field(default="", max_length=1000)
    fields: list[WorksheetField] = Field(min_length=1, max_length=12)

    @model_validator(mode="after")
    def _fields(self) -> WorksheetStep:
        _unique([f.id for f in self.fields], "field")
        return self


Step = Annotated[
    ReadingStep
    | ReflectionStep
    | RatingStep
    | QuizStep
    | ChecklistStep
    | PracticeLogStep
    | WorksheetStep,
    Field(discriminator="kind"),
]


class ModuleSpec(_Strict):
    slug: str = Field(pattern=SLUG)
    title: str = Field(min_length=1, max_length=120)
    skill_area: SkillArea
    summary: str = Field(min_length=1, max_length=600)
    estimated_minutes: int = Field(ge=1, le=240)
    version: int = Field(ge=1)
    published: bool = True
    steps: list[Step] = Field(min_length=1, max_length=30)

    @model_validator(mode="after")
    def _steps(self) -> ModuleSpec:
        _unique([s.id for s in self.steps], "step")
        return self

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)
