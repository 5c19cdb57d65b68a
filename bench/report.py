"""The programme simulator at full (or given) scale into a fresh database, then the report.

    .venv/bin/python bench/report.py [--scale 1.0] [--seed 2021] [--database-url URL]
        [--reuse] [--postgres URL] [--repeat 3]

Prints how long the simulation took, the published-vs-simulated comparison and the time to
compute and render the report over the whole history (median of ``--repeat`` runs: load,
figures, HTML; then one PDF). With ``--reuse`` the database at ``--database-url`` is reported
on without simulating again. With ``--postgres`` the simulated history is copied row for row
into that (empty, migrated here) PostgreSQL database and the report is timed there too.
Figures, not assertions: the machine may be shared (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, func, insert, select

from tidewatch.report import render
from tidewatch.report.metrics import build_report, load_facts
from tidewatch.report.simulate import END, START, scratch_sqlite, simulate
from tidewatch.store import make_engine, migrate
from tidewatch.store import tables as t

#: (figure, published value)
PUBLISHED = (
    ("accounts removed in 2023", 5_600),
    ("accounts removed in 2024", 8_000),
    ("change 2023 -> 2024", 0.40),
    ("referrals actioned (2022-2024)", 0.90),
    ("accounts removed to end of 2024", 16_500),
)


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def time_report(engine: Engine, repeat: int, label: str) -> None:
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        facts = load_facts(engine)
        loaded = time.perf_counter()
        figures = build_report(facts, START, END)
        computed = time.perf_counter()
        html = render.to_html(figures)
        rendered = time.perf_counter()
        runs.append((loaded - began, computed - loaded, rendered - computed, rendered - began))
    load_s, figures_s, html_s, total_s = (statistics.median(r[i] for r in runs) for i in range(4))
    began = time.perf_counter()
    render.to_pdf(figures)
    pdf_s = time.perf_counter() - began
    print(
        f"{label}: report over {len(facts.referrals):,} referrals "
        f"({sum(r.accounts for r in facts.referrals):,} accounts, "
        f"{sum(r.items for r in facts.referrals):,} items), median of {repeat}: "
        f"load {load_s:.2f} s + figures {figures_s:.2f} s + HTML {html_s:.2f} s "
        f"= {total_s:.2f} s ({len(html):,} chars); PDF alone {pdf_s:.2f} s; load avg {_load()}"
    )


#: Tables the report never reads and nothing it reads refers to: not copied (the evidence
#: store and the audit trail are most of a simulated database's bytes).
NOT_COPIED = frozenset(
    (
        "audit_log",
        "audit_head",
        "custody_events",
        "artifacts",
        "captures",
        "evidence_objects",
        "outbox",
        "platform_decisions",
        "post_versions",
        "post_observations",
        "account_observations",
        "media",
    )
)


def copy_database(source: Engine, target: Engine) -> int:
    """The rows of every table the report reads (and of their parents) from ``source`` into
    the migrated, empty ``target``, in foreign-key order; then PostgreSQL's sequences moved
    past the copied ids and statistics taken."""
    rows = 0
    with source.connect() as reader, target.begin() as writer:
        for table in t.metadata.sorted_tables:
            if table.name in NOT_COPIED:
                continue
            batch = []
            for row in reader.execute(select(table)):
                batch.append(dict(row._mapping))
                if len(batch) == 5_000:
                    writer.execute(insert(table), batch)
                    rows += len(batch)
                    batch = []
            if batch:
                writer.execute(insert(table), batch)
                rows += len(batch)
            if target.dialect.name == "postgresql" and "id" in table.c:
                top = writer.execute(select(func.max(table.c.id))).scalar()
                if top:
                    writer.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), {top})"
                    )
        if target.dialect.name == "postgresql":
            writer.exec_driver_sql("ANALYZE")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--reuse", action="store_true", help="report on --database-url as is")
    parser.add_argument("--postgres", default="", help="also time the report here (a copy)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.reuse and not args.database_url:
        parser.error("--reuse needs --database-url")
    folder = Path(tempfile.mkdtemp(prefix="tidewatch-bench-report-"))
    url = args.database_url or f"sqlite:///{folder / 'programme.db'}"
    print(f"database {url}; load avg at start {_load()}")
    engine = make_engine(url)
    if not args.reuse:
        migrate(engine)
        # A scratch database: no sync to disk (see scratch_sqlite).
        scratch_sqlite(engine)
        began, cpu = time.perf_counter(), time.process_time()
        result = simulate(
            engine,
            scale=args.scale,
            seed=args.seed,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
        print(
            f"simulated scale {args.scale}: {result.referrals:,} referrals, "
            f"{result.accounts_referred:,} accounts, {result.posts:,} posts, "
            f"{result.review_decisions:,} review decisions in "
            f"{time.perf_counter() - began:.0f} s wall, {time.process_time() - cpu:.0f} s CPU; "
            f"load avg {_load()}"
        )
        engine.dispose()
        engine = make_engine(url)

    time_report(engine, args.repeat, engine.dialect.name)
    if args.postgres:
        target = make_engine(args.postgres)
        migrate(target)
        began = time.perf_counter()
        copied = copy_database(engine, target)
        print(
            f"copied {copied:,} rows (the tables the report reads) to PostgreSQL in "
            f"{time.perf_counter() - began:.0f} s"
        )
        time_report(target, args.repeat, "postgresql")

    facts = load_facts(engine)
    years = {
        y["year"]: y for y in build_report(facts, date(2021, 12, 1), date(2024, 12, 31))["by_year"]
    }
    window = build_report(facts, date(2022, 1, 1), date(2024, 12, 31))["totals"]
    simulated = (
        years[2023]["accounts_removed"] / args.scale,
        years[2024]["accounts_removed"] / args.scale,
        years[2024]["change_on_previous_year"],
        window["actioned_rate"],
        years[2024]["cumulative_accounts_removed"] / args.scale,
    )
    print(f"\n{'figure':36} {'published':>10} {'simulated':>10} {'diff':>7}")
    for (name, published), value in zip(PUBLISHED, simulated, strict=True):
        diff = (value - published) / published
        shown = f"{value:10.3f}" if published < 1 else f"{value:10,.0f}"
        print(f"{name:36} {published:>10,} {shown} {diff:+7.1%}")
    if args.scale != 1.0:
        print(f"(counts divided by the scale {args.scale})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
