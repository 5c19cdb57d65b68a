"""Streaming a DSA Transparency Database dump: rows per second read, and reconciled.

    .venv/bin/python bench/exchange.py [--rows 200000] [--ours 10000] [--repeat 3]

Writes a dump of ``--rows`` rows in the real sample's shape (its three rows repeated with
fresh statement ids, half of them on Facebook) to a temporary folder, makes ``--ours``
decisions that match every other row, and prints the median time of ``--repeat`` runs of
``read_dump`` alone and of ``reconcile``. Figures, not assertions: the machine may be shared
(the load average is printed).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tidewatch.referrals.service import PlatformDecision
from tidewatch.report.exchange import dsa

SAMPLE = Path(__file__).resolve().parent.parent / (
    "tests/fixtures/dsa_transparency_db/sor-global-2025-07-01-full_first3rows.csv"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--ours", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = list(dsa.read_dump(SAMPLE))
    when = datetime(2025, 7, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "dump.csv"
        with path.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
            writer.writeheader()
            for number in range(args.rows):
                row = dict(rows[number % len(rows)])
                row["platform_uid"] = f"p-{number}"
                if number % 2:
                    row["platform_name"] = "Facebook"
                writer.writerow(row)
        ours = {}
        for number in range(0, 2 * args.ours, 2):
            sid = f"p-{number}"
            decision = PlatformDecision(
                decision_visibility=("DECISION_VISIBILITY_CONTENT_REMOVED",),
                decision_ground="DECISION_GROUND_INCOMPATIBLE_CONTENT",
                statement_id=sid,
                decided_at=when,
            )
            ours[sid] = dsa.OurDecision(sid, f"ref-{number}", "meta", "removed", when, decision)
        print(f"load average {os.getloadavg()[0]:.1f}; dump {path.stat().st_size / 1e6:.0f} MB")
        runs: list[tuple[str, Callable[[], int]]] = [
            ("read_dump", lambda: sum(1 for _ in dsa.read_dump(path))),
            ("reconcile", lambda: dsa.reconcile(dsa.read_dump(path), ours).rows_read),
        ]
        for label, run in runs:
            times = []
            count = 0
            for _ in range(args.repeat):
                start = time.perf_counter()
                count = run()
                times.append(time.perf_counter() - start)
            median = statistics.median(times)
            print(
                f"{label}: {count:,} rows, median {median:.2f} s of {args.repeat} "
                f"-> {count / median:,.0f} rows/s"
            )
        print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
