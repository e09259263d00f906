"""Process-wide tuning for the long-running servers (daphne, gunicorn workers).

CPython's cyclic garbage collector stops the process for a *full* collection now and then,
and the time it takes grows with the objects alive: in a daphne process holding 400 room
sockets that was 45–150 ms, a stall every socket of the process waits out — the fan-out
benchmark's slowest 1% of chat messages were those (bench/RESULTS.md, sixth pass).

- ``gc.freeze()``: what is loaded at start (Django, the apps, templates) lives as long as
  the process; keep it out of every collection (as CPython's docs advise for servers).
- A larger young generation (``GC_GEN0_THRESHOLD`` allocations between young collections,
  CPython's default 700): at a few hundred frames a second most objects of a frame in
  flight (its coroutines, its query's rows) survive a young collection that comes every
  700 allocations, are promoted, and so bring on the full collections, although they die
  a few milliseconds later. With 20,000 they die young; full collections become rare.
  Garbage cycles wait a little longer before they are freed (a few MB at most).
"""

from __future__ import annotations

import gc

from django.conf import settings


def settle_garbage_collector() -> None:
    """Call once the server's code is loaded (asgi.py, wsgi.py)."""
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(settings.GC_GEN0_THRESHOLD, middle, old)
