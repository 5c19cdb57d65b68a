"""Dump everything the detector decides, to check that a speed-up changed nothing.

    python bench/scan_outputs.py dump before.jsonl     # before a change
    python bench/scan_outputs.py dump after.jsonl      # after it
    python bench/scan_outputs.py compare before.jsonl after.jsonl

Inputs: the demo data, every corpus text, /work/shared/eval/real-dev.jsonl when present, and
2,000 posts built the way bench/scan.py builds them (random suffixes). For each text it records
the first stage's raw decision value and probability (compared to 1e-9), the language, the
signal hits with their spans, the text the classifier reads, and the full detection of the first
stage; the detection with the second stage for real-dev and every tenth other text (embedding
is slow). ``tidewatch scan --first-stage-only`` is run on the demo files, the corpus files and
real-dev, ``tidewatch scan`` on the demo files and real-dev, and their output is recorded line
for line (compared exactly).
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from scan import posts  # noqa: E402

from tidewatch.detect.detector import Detector  # noqa: E402
from tidewatch.detect.signals import analyse  # noqa: E402
from tidewatch.detect.train import load_corpus  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REAL_DEV = Path("/work/shared/eval/real-dev.jsonl")
BATCH = 512
TOLERANCE = 1e-9


def texts() -> list[tuple[str, str]]:
    out = [(f"corpus:{r['id']}", str(r["text"])) for r in load_corpus(ROOT / "data" / "corpus")]
    if REAL_DEV.exists():
        for line in REAL_DEV.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                out.append((f"real-dev:{row['id']}", str(row["text"])))
    out.extend((f"bench:{i}", text) for i, text in enumerate(posts(2_000)))
    return out


def cli_files() -> list[Path]:
    demo = sorted((ROOT / "src" / "tidewatch" / "demo" / "data").iterdir())
    corpus = sorted((ROOT / "data" / "corpus").glob("*.jsonl"))
    return [p for p in demo if p.name != "labels.jsonl"] + corpus + [REAL_DEV] * REAL_DEV.exists()


def _with_second(key: str, position: int) -> bool:
    return key.startswith("real-dev:") or position % 10 == 0


def dump(path: Path) -> None:
    first = Detector.load(second_stage=False)
    both = Detector.load()
    rows = texts()
    with path.open("w", encoding="utf-8") as out:
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            batch = [t for _, t in chunk]
            analyses = [analyse(t) for t in batch]
            decisions, probabilities = first.score_analyses(analyses)
            one = first.detect_texts(batch)
            chosen = [i for i, (key, _) in enumerate(chunk, start) if _with_second(key, i)]
            two = dict(zip(chosen, both.detect_texts([rows[i][1] for i in chosen]), strict=True))
            for i, (key, _) in enumerate(chunk):
                a = analyses[i]
                record: dict[str, object] = {
                    "key": key,
                    "decision": float(decisions[i]),
                    "probability": float(probabilities[i]),
                    "lang": a.lang,
                    "model_text": a.model_text,
                    "hits": [[h.signal, h.start, h.end, h.evidence, h.value] for h in a.hits],
                    "first": one[i].model_dump(mode="json"),
                }
                if start + i in two:
                    record["both"] = two[start + i].model_dump(mode="json")
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        for file in cli_files():
            stages = ["--first-stage-only"]
            if file.parent.name != "corpus":
                stages.append("--second-stage")
            for second in stages:
                result = subprocess.run(
                    [str(Path(sys.executable).parent / "tidewatch"), "scan", second, str(file)],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                for n, line in enumerate(result.stdout.splitlines()):
                    record = {"key": f"cli{second}:{file.name}:{n}", "line": line}
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                record = {"key": f"cli{second}:{file.name}:rc", "line": str(result.returncode)}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")


def compare(before: Path, after: Path) -> int:
    old = [json.loads(line) for line in before.read_text(encoding="utf-8").splitlines()]
    new = [json.loads(line) for line in after.read_text(encoding="utf-8").splitlines()]
    if [r["key"] for r in old] != [r["key"] for r in new]:
        print(f"different records: {len(old)} before, {len(new)} after")
        return 1
    differences = 0
    worst = 0.0
    for a, b in zip(old, new, strict=True):
        for field, value in a.items():
            other = b.get(field)
            if field in ("decision", "probability"):
                worst = max(worst, abs(value - other))
                same = abs(value - other) <= TOLERANCE
            else:
                same = value == other
            if not same:
                differences += 1
                if differences <= 20:
                    print(f"{a['key']} {field}:\n  before {value!r}\n  after  {other!r}")
    print(f"{len(old):,} records, {differences} differences, largest score change {worst:.2e}")
    return 1 if differences else 0


def main() -> None:
    match sys.argv[1:]:
        case ["dump", path]:
            dump(Path(path))
        case ["compare", before, after]:
            raise SystemExit(compare(Path(before), Path(after)))
        case _:
            raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
