"""A group's curriculum: an ordered list of topics its sessions rotate through.

Stored in ``Group.curriculum_topics`` as JSON objects ``{"title": "...", "module": "<slug>"}``.
``module`` is optional: the slug of a homework module that goes with the topic. Scheduling
stores it as text and never resolves it (homework sits a floor above and does, through
``apps.scheduling.extensions.module_catalogue``). Groups saved before topics could name a
module hold plain strings; ``topics_read`` accepts both, so no data migration is needed and
the next save writes objects.

Rotation (``topic_for_occurrence``): a session's topic is the curriculum entry at its
*occurrence index* — how many occurrences the group's series has produced from its start
date before this one — modulo the number of topics. The index depends only on the series
(rule and start date), not on which sessions exist, so generating again, or generating the
horizon in several runs, gives every occurrence the same topic. A cancelled session still
"uses" its topic (the next session does not shift), which keeps the rotation predictable for
clinicians planning ahead; they can edit one session's topic to catch up.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dateutil.rrule import rrulestr
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from apps.scheduling.extensions import module_catalogue

MAX_TOPICS = 60
TITLE_MAX = 200
SLUG_RE = re.compile(r"^[-a-z0-9_]{1,60}$")


@dataclass(frozen=True)
class Topic:
    title: str
    module: str = ""  # a homework module's slug, or ""

    def as_json(self) -> dict[str, str]:
        return {"title": self.title, "module": self.module}


def topics_read(raw: Any) -> list[Topic]:
    """Lenient reading of stored topics (strings or objects); anything unreadable is
    skipped, so a hand-edited value never breaks a page."""
    if not isinstance(raw, list):
        return []
    topics = []
    for item in raw:
        if isinstance(item, str) and item.strip():
            topics.append(Topic(title=item.strip()[:TITLE_MAX]))
        elif isinstance(item, Mapping) and isinstance(item.get("title"), str):
            title = item["title"].strip()[:TITLE_MAX]
            module = item.get("module") or ""
            if title:
                topics.append(
                    Topic(title=title, module=module.strip() if isinstance(module, str) else "")
                )
    return topics


def topics_clean(raw: Any, *, known_modules: Iterable[str] | None = None) -> list[dict[str, str]]:
    """Strict validation for writes (group form, admin, services): a list of strings or
    ``{"title", "module"}`` objects, titles non-empty, module slugs well formed and, when
    ``known_modules`` is given, naming a known module. Returns the normalised JSON."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list | tuple):
        raise ValidationError(_("Curriculum topics must be a list."))
    if len(raw) > MAX_TOPICS:
        raise ValidationError(_("A curriculum has at most %(n)d topics.") % {"n": MAX_TOPICS})
    known = set(known_modules) if known_modules is not None else None
    out = []
    for number, item in enumerate(raw, start=1):
        if isinstance(item, str):
            item = {"title": item, "module": ""}
        if not isinstance(item, Mapping) or set(item) - {"title", "module"}:
            raise ValidationError(
                _('Topic %(n)d must be a title or {"title": …, "module": …}.') % {"n": number}
            )
        title, module = item.get("title"), item.get("module") or ""
        if not isinstance(title, str) or not title.strip():
            raise ValidationError(_("Topic %(n)d has no title.") % {"n": number})
        if len(title.strip()) > TITLE_MAX:
            raise ValidationError(
                _("Topic %(n)d is longer than %(max)d characters.")
                % {"n": number, "max": TITLE_MAX}
            )
        if not isinstance(module, str) or (module and not SLUG_RE.match(module.strip())):
            raise ValidationError(
                _("Topic %(n)d: the module must be a module's short name (slug).") % {"n": number}
            )
        module = module.strip()
        if module and known is not None and module not in known:
            raise ValidationError(
                _("Topic %(n)d: there is no homework module “%(slug)s”.")
                % {"n": number, "slug": module}
            )
        out.append({"title": title.strip(), "module": module})
    return out


def module_slugs() -> set[str] | None:
    """The slugs a topic may name (from the app that owns modules), or None if unknown."""
    catalogue = module_catalogue()
    return set(catalogue) if catalogue is not None else None


def topics_from_lines(text: str) -> list[dict[str, str]]:
    """The group form's text: one topic per line, optionally ``Title | module-slug``."""
    out = []
    for line in (text or "").splitlines():
        title, _sep, module = line.partition("|")
        if title.strip() or module.strip():
            out.append({"title": title.strip(), "module": module.strip()})
    return out


def topics_to_lines(raw: Any) -> str:
    return "\n".join(f"{t.title} | {t.module}" if t.module else t.title for t in topics_read(raw))


def topic_module(raw: Any, title: str) -> str:
    """The module slug of the curriculum topic called ``title`` (case and spacing aside),
    or "". Looked up by title, so a session whose topic was edited to another curriculum
    topic suggests that topic's module, and a free-text topic suggests none."""
    wanted = " ".join((title or "").split()).casefold()
    if not wanted:
        return ""
    for topic in topics_read(raw):
        if " ".join(topic.title.split()).casefold() == wanted:
            return topic.module
    return ""


def occurrence_indices(
    *, rule: str, series_start: dt.date, start_time: dt.time, until: dt.date
) -> dict[dt.date, int]:
    """Local date → 0-based index of every occurrence of the series up to ``until``."""
    if until < series_start:
        return {}
    dtstart = dt.datetime.combine(series_start, start_time)  # naive local, as recurrence does
    recurrence = rrulestr(rule.strip().removeprefix("RRULE:"), dtstart=dtstart)
    hi = dt.datetime.combine(until, dt.time.max)
    return {
        naive.date(): index
        for index, naive in enumerate(recurrence.between(dtstart, hi, inc=True))  # type: ignore[union-attr]
    }


def topic_for_occurrence(topics: list[Topic], index: int | None) -> str:
    if not topics or index is None:
        return ""
    return topics[index % len(topics)].title
