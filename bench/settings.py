"""Settings for benchmark runs: the project's settings plus a one-query baseline view.

Only ROOT_URLCONF changes (bench/baseline_urls.py adds ``/bench/baseline/``), so every page
is served by exactly the code and middleware production runs. The room rate limit is raised
only when a benchmark asks for it (BENCH_ROOMS_RATE_LIMIT), to find the maximum fan-out rate.
"""

from __future__ import annotations

import os

from virtualiop.settings import *  # noqa: F403

ROOT_URLCONF = "bench.baseline_urls"

if os.environ.get("BENCH_ROOMS_RATE_LIMIT"):
    ROOMS_RATE_LIMIT_MESSAGES = int(os.environ["BENCH_ROOMS_RATE_LIMIT"])
    ROOMS_RATE_LIMIT_SECONDS = 10
