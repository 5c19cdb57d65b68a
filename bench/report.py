"""The programme simulator at full (or given) scale into a fresh database, then the report.

    .venv/bin/python bench/report.py [--scale 1.0] [--seed 2021] [--database-url URL]

Prints how long the simulation took, the published-vs-simulated comparison and the time to
compute and render the report over the whole history (JSON, HTML, PDF). Figures, not
assertions: the machine may be shared.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from tidewatch.report import render
from tidewatch.report.metrics import build_report, load_facts
from tidewatch.report.simulate import END, START, simulate
from tidewatch.store import make_engine, migrate

#: (figure, published value, how to read the simulated one)
PUBLISHED = (
    ("accounts removed in 2023", 5_600),
    ("accounts removed in 2024", 8_000),
    ("change 2023 -> 2024", 0.40),
    ("referrals actioned (2022-2024)", 0.90),
    ("accounts removed to end of 2024", 16_500),
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tidewatch-bench-report-"))
    url = args.database_url or f"sqlite:///{folder / 'programme.db'}"
    engine = make_engine(url)
    migrate(engine)
    began = time.perf_counter()
    result = simulate(
        engine,
        scale=args.scale,
        seed=args.seed,
        progress=lambda line: print(line, file=sys.stderr) if line[5:7] == "12" else None,
    )
    print(
        f"simulated scale {args.scale}: {result.referrals} referrals, "
        f"{result.accounts_referred} accounts, {result.posts} posts in "
        f"{time.perf_counter() - began:.0f} s"
    )

    began = time.perf_counter()
    facts = load_facts(engine)
    loaded = time.perf_counter() - began
    figures = build_report(facts, START, END)
    computed = time.perf_counter() - began
    html = render.to_html(figures)
    rendered = time.perf_counter() - began
    render.to_pdf(figures)
    with_pdf = time.perf_counter() - began
    print(
        f"report over {len(facts.referrals)} referrals: load {loaded:.2f} s, "
        f"figures {computed:.2f} s, + HTML {rendered:.2f} s ({len(html):,} chars), "
        f"+ PDF {with_pdf:.2f} s"
    )

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
