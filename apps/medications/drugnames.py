"""The searchable list of drug names: the drug dictionary shipped inside the
``drug-named-entity-recognition`` package (MIT; names from the DrugBank open vocabulary, CC0,
with MeSH, MedlinePlus and NHS names), read from the package's own file so nothing is fetched
at run time. Brand names lead to their generic name ("Zoloft" finds Sertraline).

The package module itself is not imported: importing it also reads a cache in the user's home
directory and may reach the network. Only its data file is read, once per process."""

from __future__ import annotations

import bisect
import bz2
import dataclasses
import functools
import importlib.util
import pickle  # noqa: S403 - the dictionary ships only as a pickle; see _load()
from pathlib import Path

PACKAGE = "drug_named_entity_recognition"
DATA_FILE = "drug_ner_dictionary.pkl.bz2"
MAX_NAME = 120


@dataclasses.dataclass(frozen=True)
class DrugName:
    name: str
    # MedlinePlus covers the drugs people in the US commonly take: those are offered first.
    common: bool


@dataclasses.dataclass(frozen=True)
class Match:
    name: str
    matched: str  # the brand or other name that was typed, when it is not ``name`` itself


@dataclasses.dataclass(frozen=True)
class _Index:
    canonical: dict[str, DrugName]  # lower-case key -> name
    keys: list[str]  # every lower-case name and synonym, sorted (for prefix search)
    key_to_canonical: dict[str, list[str]]


def data_path() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"The {PACKAGE} package is not installed (see pyproject.toml).")
    return Path(next(iter(spec.submodule_search_locations))) / DATA_FILE


@functools.cache
def _load() -> _Index:
    # A pickle runs code when loaded, so only this file, installed from PyPI at a pinned
    # version like the package's code itself, is ever unpickled; never anything a user sent.
    with bz2.open(data_path(), "rb") as fh:
        raw = pickle.load(fh)  # noqa: S301
    canonical: dict[str, DrugName] = {}
    for key, data in raw["drug_canonical_to_data"].items():
        name = str(data.get("name") or key).strip()
        if not name or len(name) > MAX_NAME:
            continue
        canonical[str(key).lower()] = DrugName(name=name, common=bool(data.get("medline_plus_id")))
    key_to_canonical: dict[str, list[str]] = {}
    for variant, targets in raw["drug_variant_to_canonical"].items():
        variant = str(variant).lower().strip()
        found = [t for t in targets if t in canonical]
        if variant and found and len(variant) <= MAX_NAME:
            key_to_canonical[variant] = found
    for key in canonical:
        key_to_canonical.setdefault(key, [key])
    return _Index(
        canonical=canonical, keys=sorted(key_to_canonical), key_to_canonical=key_to_canonical
    )


def size() -> int:
    return len(_load().canonical)


def lookup(name: str) -> str | None:
    """The list's own spelling of ``name`` if it is a known drug name or synonym, else None."""
    index = _load()
    key = " ".join(name.split()).lower()
    if key in index.canonical:
        return index.canonical[key].name
    if key in index.key_to_canonical:
        return name.strip()
    return None


def search(query: str, *, limit: int = 10) -> list[Match]:
    """Names starting with ``query`` (generic or brand), common drugs first, then names
    containing it. Case-insensitive; fewer than 2 characters finds nothing."""
    q = " ".join(query.split()).lower()[:MAX_NAME]
    if len(q) < 2:
        return []
    index = _load()
    scored: dict[str, tuple[tuple[int, int, int, str], Match]] = {}

    def offer(canonical_key: str, typed: str, tier: int) -> None:
        drug = index.canonical[canonical_key]
        matched = "" if typed == canonical_key else typed
        score = (tier, 0 if drug.common else 1, len(drug.name), drug.name.lower())
        if canonical_key not in scored or score < scored[canonical_key][0]:
            shown = matched.title() if matched else ""
            scored[canonical_key] = (score, Match(name=drug.name, matched=shown))

    start = bisect.bisect_left(index.keys, q)
    for key in index.keys[start:]:
        if not key.startswith(q):
            break
        for target in index.key_to_canonical[key]:
            tier = 0 if key == q else (1 if key == target else 2)
            offer(target, key, tier)
    if len(scored) < limit:
        for key in index.canonical:
            if q in key and key not in scored:
                offer(key, key, 3)
    return [match for _score, match in sorted(scored.values(), key=lambda s: s[0])[:limit]]
