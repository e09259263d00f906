"""Load note template files into the database, all or nothing, as homework modules load.

Idempotent: a file whose version is stored with the same content changes nothing; changed
content under an existing version number is refused (notes point at the version they used).
A newer version becomes the one offered for new notes."""

from __future__ import annotations

from pathlib import Path

from django.db import transaction

from apps.charting.models import NoteTemplate
from apps.charting.schema import TemplateSpec
from apps.core.content import (
    ContentError,
    display_path,
    parse_spec_file,
    spec_files,
    spec_hash,
)

TEMPLATE_DIR = Path(__file__).resolve().parent / "note_templates"

__all__ = ["TEMPLATE_DIR", "ContentError", "load_note_templates", "note_template_store"]


@transaction.atomic
def load_note_templates(directory: Path | None = None) -> list[str]:
    """Validate every file first; write only when all are valid. Returns what was new."""
    directory = directory or TEMPLATE_DIR
    parsed = [
        (p, parse_spec_file(p, TemplateSpec, what="note template")) for p in spec_files(directory)
    ]
    slugs = [spec.slug for _, spec in parsed]
    if len(set(slugs)) != len(slugs):
        raise ContentError(f"{display_path(directory)}: more than one file for a slug")
    created = []
    for path, spec in parsed:
        template, new = note_template_store(spec=spec, source=path.name)
        if new:
            created.append(str(template))
    return created


def note_template_store(*, spec: TemplateSpec, source: str = "") -> tuple[NoteTemplate, bool]:
    """Store ``spec`` as a template version; the newest version of a slug is the active one."""
    digest = spec_hash(spec)
    existing = NoteTemplate.objects.filter(slug=spec.slug, version=spec.version).first()
    if existing is not None:
        if existing.content_hash != digest:
            raise ContentError(
                f"{source or spec.slug}: field 'version': content of version {spec.version} "
                "changed; give the new content a higher version number"
            )
        return existing, False
    newest = NoteTemplate.objects.filter(slug=spec.slug).order_by("-version").first()
    is_newest = newest is None or spec.version > newest.version
    template = NoteTemplate.objects.create(
        slug=spec.slug,
        version=spec.version,
        title=spec.title,
        kind=spec.kind,
        content=spec.model_dump(mode="json"),
        content_hash=digest,
        is_active=is_newest,
        source=source[:200],
    )
    if is_newest:
        NoteTemplate.objects.filter(slug=spec.slug).exclude(pk=template.pk).update(is_active=False)
    return template, True
