"""Instructions a parsing worker spends per X post, counted by callgrind: a figure that does not
move with the machine's speed, for comparing two versions of the reading code.

    python bench/ingest_instructions.py                  # this checkout
    PYTHONPATH=/path/to/other/src python bench/ingest_instructions.py

The wall clock of ``bench/ingest.py`` varies by half on a shared machine within an hour;
callgrind counts the instructions the CPU runs, the same from run to run within about 0.2%.
A worker's work for one line is what ``tidewatch.ingest.parallel`` does with it: parse the
JSON, read the page, turn the bundle into rows (``prepare_record_fields``) and marshal them.
The script runs that for two numbers of pages under callgrind and prints the difference per
post, so the interpreter's start-up and imports cancel out. It needs valgrind (Debian's
``valgrind`` package) and takes a few minutes: Python runs about fifty times slower under it.
"""

from __future__ import annotations

import argparse
import itertools
import marshal
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ingest import PER_PAGE, generate
from tidewatch.gcpause import collector_paused
from tidewatch.ingest import reader_named
from tidewatch.ingest.base import ReadContext, Unit
from tidewatch.ingest.framing import jsonl_unit
from tidewatch.store.writer import db_time, prepare_record_fields


def work(path: Path, pages: int) -> None:
    """One worker's work on the first ``pages`` lines of ``path``."""
    with path.open("rb") as lines:
        chosen = list(itertools.islice(lines, pages))
    if len(chosen) < pages:
        raise SystemExit(f"{path} has {len(chosen)} lines, fewer than the {pages} asked for")
    reader, context, to_db = reader_named("x_v2"), ReadContext(origin=str(path)), db_time("sqlite")
    # As in a worker forked by a store load, which inherits the paused collector.
    with collector_paused():
        for number, line in enumerate(chosen, start=1):
            unit = jsonl_unit(line, f"{path}:{number}")
            if not isinstance(unit, Unit):
                raise SystemExit(f"line {number} of {path} did not parse: {unit}")
            marshal.dumps(prepare_record_fields(reader.read(unit, context), to_db))


def instructions(path: Path, pages: int) -> int:
    with tempfile.TemporaryDirectory() as folder:
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={folder}/out",
                sys.executable,
                __file__,
                "--work",
                str(path),
                str(pages),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if not found:
        raise SystemExit(f"callgrind printed no total:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    if sys.argv[1:2] == ["--work"]:
        work(Path(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=20, help="pages counted (100 posts each)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pages.jsonl"
        generate(path, (args.pages + 5) * PER_PAGE)
        base, more = instructions(path, 5), instructions(path, 5 + args.pages)
    per_post = (more - base) / (args.pages * PER_PAGE)
    print(f"{per_post:,.0f} instructions per post ({args.pages * PER_PAGE:,} posts counted)")


if __name__ == "__main__":
    main()
