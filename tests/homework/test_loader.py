"""The content loader: shipped files are valid, loading is idempotent, a malformed file is
refused with a message naming the file and the field, and versions protect assignments."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from apps.core.content import parse_spec_file
from apps.homework import services
from apps.homework.loader import CONTENT_DIR, ContentError, load_modules
from apps.homework.models import Module, ModuleVersion
from apps.homework.presentation import render_markdown
from apps.homework.schema import ModuleSpec
from tests.homework.factories import assign


def _write(directory: Path, slug: str, data: dict) -> Path:
    path = directory / f"{slug}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _module(slug: str = "tiny", version: int = 1, **overrides) -> dict:
    data = {
        "slug": slug,
        "title": "Tiny module",
        "skill_area": "stress_management",
        "summary": "A small module for tests.",
        "estimated_minutes": 5,
        "version": version,
        "steps": [
            {"id": "read", "kind": "reading", "title": "Read", "body": "Hello"},
            {"id": "think", "kind": "reflection", "title": "Think", "prompt": "Why?"},
        ],
    }
    data.update(overrides)
    return data


def test_shipped_content_is_valid_and_covers_the_required_areas():
    specs = [
        parse_spec_file(p, ModuleSpec, what="module") for p in sorted(CONTENT_DIR.glob("*.yaml"))
    ]
    areas = Counter(spec.skill_area for spec in specs)
    assert len(specs) >= 9
    for area in ("stress_management", "emotion_regulation", "relapse_prevention"):
        assert areas[area] >= 3
    kinds = {step.kind for spec in specs for step in spec.steps}
    assert kinds == {
        "reading", "reflection", "rating", "quiz", "checklist", "practice_log", "worksheet",
    }  # fmt: skip


@pytest.mark.django_db
def test_loading_twice_changes_nothing():
    first = load_modules()
    snapshot = list(ModuleVersion.objects.values_list("pk", "content_hash"))
    second = load_modules()
    assert len(first.created_modules) >= 9
    assert not second.changed
    assert len(second.unchanged) == len(first.created_modules)
    assert list(ModuleVersion.objects.values_list("pk", "content_hash")) == snapshot


@pytest.mark.django_db
def test_command_is_idempotent(capsys):
    call_command("load_homework")
    call_command("load_homework")
    out = capsys.readouterr().out
    assert "0 new module(s), 0 new version(s)" in out.splitlines()[-1]
    assert Module.objects.count() >= 9


@pytest.mark.django_db
def test_malformed_file_is_refused_naming_file_and_field_and_nothing_is_loaded(tmp_path):
    _write(tmp_path, "good", _module("good"))
    bad = _module("bad")
    bad["steps"].append(
        {
            "id": "q",
            "kind": "quiz",
            "title": "Q",
            "question": "?",
            "options": [{"id": "a", "text": "A", "feedback": "f"}, {"id": "b", "text": "B"}],
        }
    )
    _write(tmp_path, "bad", bad)
    with pytest.raises(ContentError) as err:
        load_modules(tmp_path)
    message = str(err.value)
    assert "bad.yaml" in message
    assert "steps.2.quiz.options.1.feedback" in message
    assert Module.objects.count() == 0


@pytest.mark.django_db
def test_command_refuses_malformed_file_with_file_and_field(tmp_path):
    _write(tmp_path, "tiny", _module(estimated_minutes=0))
    with pytest.raises(CommandError) as err:
        call_command("load_homework", dir=tmp_path)
    assert "tiny.yaml" in str(err.value)
    assert "estimated_minutes" in str(err.value)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda d: d.update(skill_area="astrology"), "skill_area"),
        (lambda d: d.update(unexpected="x"), "unexpected"),
        (lambda d: d["steps"].append(dict(d["steps"][0])), "duplicate step id 'read'"),
        (lambda d: d["steps"][1].update(kind="essay"), "steps.1"),
        (lambda d: d.update(slug="other-name"), "slug"),
    ],
)
def test_schema_errors_name_the_field(tmp_path, mutate, field):
    data = _module()
    mutate(data)
    _write(tmp_path, "tiny", data)
    with pytest.raises(ContentError) as err:
        load_modules(tmp_path)
    assert "tiny.yaml" in str(err.value)
    assert field in str(err.value)


@pytest.mark.django_db
def test_invalid_yaml_names_file_and_line(tmp_path):
    (tmp_path / "tiny.yaml").write_text("slug: tiny\ntitle: [unclosed\n")
    with pytest.raises(ContentError, match=r"tiny\.yaml: not valid YAML at line"):
        load_modules(tmp_path)


@pytest.mark.django_db
def test_changing_content_without_a_new_version_is_refused(tmp_path):
    _write(tmp_path, "tiny", _module())
    load_modules(tmp_path)
    _write(tmp_path, "tiny", _module(summary="Changed summary."))
    with pytest.raises(ContentError, match="version"):
        load_modules(tmp_path)
    assert ModuleVersion.objects.get().content["summary"] == "A small module for tests."


@pytest.mark.django_db
def test_in_progress_assignment_keeps_its_version(tmp_path, clinician, patient):
    _write(tmp_path, "tiny", _module())
    load_modules(tmp_path)
    module = Module.objects.get(slug="tiny")
    started = assign(clinician, patient, module)
    services.response_save(
        assignment=started,
        user=patient,
        step_id="think",
        data={"text": "hello"},  # type: ignore[arg-type]
    )
    v2 = _module(version=2)
    v2["steps"][1] = {"id": "think-more", "kind": "reflection", "title": "T", "prompt": "How?"}
    _write(tmp_path, "tiny", v2)
    report = load_modules(tmp_path)
    assert report.new_versions == ["tiny v2"]
    module.refresh_from_db()
    assert module.current_version.version == 2
    started.refresh_from_db()
    services.assignment_open(assignment=started, user=patient)
    assert started.module_version.version == 1
    # The old step still takes answers; the new version's step is not part of this copy.
    services.response_save(
        assignment=started,
        user=patient,
        step_id="think",
        data={"text": "more"},  # type: ignore[arg-type]
    )
    with pytest.raises(services.StepNotFound):
        services.response_save(
            assignment=started,
            user=patient,
            step_id="think-more",
            data={"text": "x"},  # type: ignore[arg-type]
        )


@pytest.mark.django_db
def test_unstarted_assignment_moves_to_the_current_version_when_opened(
    tmp_path, clinician, patient
):
    _write(tmp_path, "tiny", _module())
    load_modules(tmp_path)
    assignment = assign(clinician, patient, Module.objects.get(slug="tiny"))
    _write(tmp_path, "tiny", _module(version=2, title="Tiny, revised"))
    load_modules(tmp_path)
    services.assignment_open(assignment=assignment, user=patient)
    assert assignment.module_version.version == 2


def test_reading_markdown_is_sanitised():
    html = str(
        render_markdown(
            "**bold** <script>alert(1)</script> <img src=x onerror=alert(1)> [x](javascript:alert(1))"
        )
    )
    assert "<strong>bold</strong>" in html
    assert "<script" not in html and "onerror" not in html and "<img" not in html
    assert "javascript:" not in html
