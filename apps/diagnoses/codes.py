"""The ICD-10-CM code set, from the kept library ``simple-icd-10-cm`` (it ships the CMS
tabular list), and a search over it.

Importing the library parses the whole tabular XML (about 2 s on this machine), so it is
imported the first time a code is searched or checked, not at start-up; the search index is
built once per process on top of it and then answers in about a millisecond (see
``tests/diagnoses/test_codes.py``, which measures both).

Billable means a leaf of the tabular list: a code with no more specific child (F33.1 is
billable; F33 and T43.011, which needs its 7th character, are not)."""

from __future__ import annotations

import bisect
import dataclasses
import logging
import re
import threading
import time
import warnings
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)

MIN_QUERY = 2
MAX_RESULTS = 25
_WORD = re.compile(r"[a-z0-9]+")
_CODE_QUERY = re.compile(r"^[a-z][0-9][0-9a-z]?(\.?[0-9a-z]{0,4})?$")


@dataclasses.dataclass(frozen=True, slots=True)
class Code:
    code: str  # with its dot, as the code set prints it: F33.1
    description: str
    billable: bool


class _Index:
    """Codes in the code set's order, a sorted dotless-code list for prefix search, and an
    inverted word index (sorted vocabulary, so a word prefix is a bisect range)."""

    def __init__(self, codes: list[Code]) -> None:
        self.codes = codes
        self.by_dotless = sorted((c.code.replace(".", "").lower(), i) for i, c in enumerate(codes))
        self._dotless_keys = [k for k, _ in self.by_dotless]
        postings: dict[str, list[int]] = {}
        for i, c in enumerate(codes):
            for word in set(_WORD.findall(c.description.lower())):
                postings.setdefault(word, []).append(i)
        self.vocabulary = sorted(postings)
        self.postings = [frozenset(postings[w]) for w in self.vocabulary]

    def _word_prefix(self, prefix: str) -> set[int]:
        lo = bisect.bisect_left(self.vocabulary, prefix)
        hi = bisect.bisect_left(self.vocabulary, prefix + "\uffff")
        found: set[int] = set()
        for posting in self.postings[lo:hi]:
            found.update(posting)
        return found

    def _code_prefix(self, prefix: str) -> list[int]:
        lo = bisect.bisect_left(self._dotless_keys, prefix)
        hi = bisect.bisect_left(self._dotless_keys, prefix + "\uffff")
        return [i for _, i in self.by_dotless[lo:hi]]

    def search(self, query: str, *, limit: int) -> list[Code]:
        q = query.strip().lower()
        if len(q) < MIN_QUERY:
            return []
        hits: set[int] = set()
        if _CODE_QUERY.match(q):
            hits.update(self._code_prefix(q.replace(".", "")))
        words = _WORD.findall(q)
        if words:
            # Every word of the query must begin some word of the description; the rarest
            # first, so the intersections stay small.
            sets = sorted((self._word_prefix(w) for w in words), key=len)
            matched = set.intersection(*sets) if sets else set()
            hits.update(matched)
        # Billable leaves first (what a claim can carry), then the code set's order.
        ranked = sorted(hits, key=lambda i: (not self.codes[i].billable, i))
        return [self.codes[i] for i in ranked[:limit]]


_lock = threading.Lock()
_index: _Index | None = None
_library: ModuleType | None = None
build_seconds: float | None = None


def _cm() -> Any:
    """The library, imported on first use (its import parses the CMS data)."""
    global _library
    if _library is None:
        # 1.5.0 reads its data with importlib.resources' legacy calls: not ours to fix.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import simple_icd_10_cm

        _library = simple_icd_10_cm
    return _library


def _build() -> _Index:
    cm = _cm()
    codes = [
        Code(code=c, description=cm.get_description(c), billable=cm.is_leaf(c))
        for c in cm.get_all_codes(with_dots=True)
        if not cm.is_chapter_or_block(c)
    ]
    return _Index(codes)


def index() -> _Index:
    global _index, build_seconds
    if _index is None:
        with _lock:  # one build per process even when two first searches race
            if _index is None:
                started = time.perf_counter()
                built = _build()
                build_seconds = time.perf_counter() - started
                logger.info(
                    "ICD-10-CM index built: %d codes in %.2f s", len(built.codes), build_seconds
                )
                _index = built
    return _index


def warm() -> None:
    """Start building the index in the background (the diagnoses page calls this, so the
    first search a clinician types does not wait the ~4 s build)."""
    if _index is None and not _lock.locked():
        threading.Thread(target=index, name="icd10cm-index", daemon=True).start()


def search(query: str, *, limit: int = MAX_RESULTS) -> list[Code]:
    return index().search(query, limit=limit)


def normalize(raw: str) -> str:
    """``raw`` as the code set spells it (upper case, with its dot), or "" when it cannot be
    a code at all."""
    value = raw.strip().upper().replace(" ", "")
    if not value or len(value) > 8 or not re.fullmatch(r"[A-Z][0-9A-Z.]+", value):
        return ""
    if "." in value and value.index(".") != 3:  # the dot follows the category: F33.1
        return ""
    try:
        return str(_cm().add_dot(value.replace(".", "")))
    except ValueError:  # not in the code set
        return ""


def billable_code(raw: str) -> Code | None:
    """The billable ICD-10-CM code ``raw`` names, checked with the library, else None."""
    code = normalize(raw)
    if not code:
        return None
    cm = _cm()
    if not cm.is_valid_item(code) or cm.is_chapter_or_block(code) or not cm.is_leaf(code):
        return None
    return Code(code=code, description=cm.get_description(code).strip(), billable=True)


def describe(raw: str) -> Code | None:
    """Any valid code (billable or not), for messages such as "F33 is not billable"."""
    code = normalize(raw)
    if not code or not _cm().is_valid_item(code):
        return None
    cm = _cm()
    return Code(code=code, description=cm.get_description(code).strip(), billable=cm.is_leaf(code))
