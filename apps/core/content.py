"""Versioned content files (homework modules, note templates): read one YAML file and validate
it against a pydantic model, with errors that name the file and the field."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Spec = TypeVar("Spec", bound=BaseModel)


class ContentError(Exception):
    """A content file cannot be loaded; the message names the file and the field."""


def display_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def format_errors(exc: Exception) -> str:
    """One line per problem, each naming the field by its path (``steps.2.options``)."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    # Tagged unions put the kind in the path (steps.2.quiz.options): it helps, keep it.
    return "; ".join(
        f"field '{'.'.join(str(p) for p in e['loc']) or '(top level)'}': {e['msg']}"
        for e in exc.errors()
    )


def spec_hash(spec: BaseModel) -> str:
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_spec_file(path: Path, model: type[Spec], *, what: str) -> Spec:
    """Read and validate one file holding one ``what`` whose ``slug`` matches the file name."""
    name = display_path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ContentError(f"{name}: cannot read the file ({exc.__class__.__name__})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ContentError(f"{name}: not valid YAML{where}") from exc
    if not isinstance(raw, dict):
        raise ContentError(f"{name}: the file must hold one {what} (a mapping of fields)")
    try:
        spec = model.model_validate(raw)
    except ValidationError as exc:
        raise ContentError(f"{name}: {format_errors(exc)}") from exc
    if path.stem != getattr(spec, "slug", path.stem):
        raise ContentError(f"{name}: field 'slug' must match the file name ('{path.stem}')")
    return spec


def spec_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in {".yaml", ".yml"})
