"""The statistics pages with a million requests: page time (p50/p95), the SQL each page
runs and its time, against the same figures computed live in the same run.

Run from the repository root (PostgreSQL and Redis on localhost)::

    .venv/bin/python -m tests.bench.stats_page            # reuses the loaded data
    .venv/bin/python -m tests.bench.stats_page --reload   # loads it again (several minutes)
    .venv/bin/python -m tests.bench.stats_page --help     # rounds, --no-http, --no-explain

The same machinery as ``queue_page`` (its data generator, clients, checks and report),
with 10,000 open and 990,000 closed requests over three years (about 900 a day) and
three timeline events each, in its own database ``hotline_bench_stats`` and Redis db 14.
Before measuring, the per-day summary is brought up to date as the sweeper does every
minute (the first time counts every day: its time is printed). Measured: the statistics
page for the last 30 days (the default), all time, and all time filtered by reason and
language, over HTTP (gunicorn, production settings) and in process with the SQL counted;
then the service functions alone, both from the summary and LIVE (every row read, no
summary): the in-run baseline. The summary's figures must equal the live ones exactly,
or the run fails. Exit status: 0 every target met, 1 an error, 2 a target missed.
"""

from __future__ import annotations

import sys

from tests.bench import queue_page

DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/hotline_bench_stats"
REDIS_URL = "redis://127.0.0.1:6379/14"
MILLION = queue_page.Scale(open=10_000, closed=990_000, contacts=400_000, days=3 * 365)


def main(argv: list[str] | None = None) -> int:
    args = queue_page.parse(argv, prog="python -m tests.bench.stats_page",
                            about=__doc__.split("\n\n")[0], database_url=DATABASE_URL,
                            redis_url=REDIS_URL)
    return queue_page.main(scale=MILLION, parsed=args,
                           keep=lambda page: page.name.startswith("statistics"))


if __name__ == "__main__":
    sys.exit(main())
