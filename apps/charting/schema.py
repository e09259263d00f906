"""The shape of a note template, validated on load (pydantic), as homework modules are.

A template file (``apps/charting/note_templates/*.yaml``) names its fields; a note stores the
answers as JSON keyed by field id. Group templates have two lists: ``fields`` (the shared part,
written once for the session) and ``member_fields`` (the short part per attendee).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SLUG = r"^[a-z0-9][a-z0-9-]{0,59}$"
FIELD_ID = r"^[a-z0-9][a-z0-9_]{0,39}$"

TemplateKind = Literal["individual", "group", "intake", "assessment"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class FieldSpec(_Strict):
    id: str = Field(pattern=FIELD_ID)
    label: str = Field(min_length=1, max_length=120)
    type: Literal["text", "line", "choice", "multichoice"] = "text"
    help: str = Field(default="", max_length=400)
    required: bool = False
    choices: list[str] = Field(default_factory=list, max_length=20)
    max_length: int = Field(default=8000, ge=1, le=20_000)

    @model_validator(mode="after")
    def _choices(self) -> FieldSpec:
        if self.type in ("choice", "multichoice") and len(self.choices) < 2:
            raise ValueError(f"field '{self.id}' needs at least two choices")
        if self.type in ("text", "line") and self.choices:
            raise ValueError(f"field '{self.id}' is free text and takes no choices")
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"field '{self.id}' repeats a choice")
        return self


class Section(_Strict):
    title: str = Field(default="", max_length=120)
    fields: list[FieldSpec] = Field(min_length=1, max_length=40)


class TemplateSpec(_Strict):
    slug: str = Field(pattern=SLUG)
    title: str = Field(min_length=1, max_length=120)
    kind: TemplateKind
    version: int = Field(ge=1)
    summary: str = Field(default="", max_length=400)
    # Appointment kinds (scheduling) this template is the default for.
    default_for: list[str] = Field(default_factory=list)
    sections: list[Section] = Field(min_length=1, max_length=20)
    member_fields: list[FieldSpec] = Field(default_factory=list, max_length=12)

    @model_validator(mode="after")
    def _shape(self) -> TemplateSpec:
        ids = [f.id for s in self.sections for f in s.fields] + [f.id for f in self.member_fields]
        if len(set(ids)) != len(ids):
            raise ValueError("field ids repeat")
        if self.kind == "group" and not self.member_fields:
            raise ValueError("a group template needs member_fields (the part per attendee)")
        if self.kind != "group" and self.member_fields:
            raise ValueError("only a group template has member_fields")
        return self

    @property
    def fields(self) -> list[FieldSpec]:
        return [f for s in self.sections for f in s.fields]
