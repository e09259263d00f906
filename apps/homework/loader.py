"""Load module files into the database: validate every file, then write, all or nothing.

Idempotent: a file whose version is already stored with the same content changes nothing. A
file that changes content without a new ``version`` number is refused, because assignments in
progress point at that version and must keep the questions they were answered against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from apps.core.content import (
    ContentError,
    display_path,
    parse_spec_file,
    spec_files,
    spec_hash,
)
from apps.homework.models import Module, ModuleVersion
from apps.homework.schema import ModuleSpec

__all__ = ["ContentError", "load_modules", "module_version_create_from_spec"]

CONTENT_DIR = Path(__file__).resolve().parent / "content"


@dataclass
class LoadReport:
    created_modules: list[str] = field(default_factory=list)
    new_versions: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created_modules or self.new_versions)


@transaction.atomic
def load_modules(directory: Path | None = None) -> LoadReport:
    """Validate all files in ``directory`` first; write only when every file is valid."""
    directory = directory or CONTENT_DIR
    parsed = [
        (path, parse_spec_file(path, ModuleSpec, what="module")) for path in spec_files(directory)
    ]
    slugs = [spec.slug for _, spec in parsed]
    duplicates = {s for s in slugs if slugs.count(s) > 1}
    if duplicates:
        raise ContentError(
            f"{display_path(directory)}: more than one file for slug(s) {duplicates}"
        )

    report = LoadReport()
    for path, spec in parsed:
        module_version_create_from_spec(spec=spec, source=path.name, report=report)
    return report


def module_version_create_from_spec(
    *, spec: ModuleSpec, source: str = "", report: LoadReport | None = None
) -> ModuleVersion:
    """Store ``spec`` as a version of its module (creating the module on first sight).

    Re-storing identical content is a no-op; different content under an existing version
    number raises ContentError. A version newer than the module's current one becomes current
    and refreshes the module's listing fields."""
    report = report or LoadReport()
    digest = spec_hash(spec)
    module = Module.objects.select_for_update().filter(slug=spec.slug).first()
    if module is None:
        module = Module.objects.create(
            slug=spec.slug,
            title=spec.title,
            skill_area=spec.skill_area,
            summary=spec.summary,
            estimated_minutes=spec.estimated_minutes,
            is_published=spec.published,
        )
        report.created_modules.append(spec.slug)
    existing = ModuleVersion.objects.filter(module=module, version=spec.version).first()
    if existing is not None:
        if existing.content_hash != digest:
            raise ContentError(
                f"{source or spec.slug}: field 'version': content of version {spec.version} "
                "changed; give the new content a higher version number"
            )
        report.unchanged.append(spec.slug)
        return existing
    version = ModuleVersion.objects.create(
        module=module,
        version=spec.version,
        content=spec.model_dump(mode="json"),
        content_hash=digest,
        step_count=len(spec.steps),
        source=source[:200],
    )
    current = module.current_version
    if current is None or version.version > current.version:
        module.current_version = version
        module.title = spec.title
        module.skill_area = spec.skill_area
        module.summary = spec.summary
        module.estimated_minutes = spec.estimated_minutes
        module.save(
            update_fields=["current_version", "title", "skill_area", "summary", "estimated_minutes"]
        )
    if spec.slug not in report.created_modules:
        report.new_versions.append(f"{spec.slug} v{spec.version}")
    return version
