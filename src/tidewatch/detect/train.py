"""Rebuild the packaged model from ``data/corpus/`` reproducibly (seeded).

    tidewatch train                     # writes src/tidewatch/detect/models/detector.npz

Calibration uses out-of-fold scores: every training text is scored by a model that did not
see it, Platt scaling is fitted on those scores, and the final model is fitted on all texts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

from tidewatch.detect.classifier import (
    FeatureConfig,
    Featurizer,
    LinearModel,
    fit_linear,
    fit_platt,
    out_of_fold,
)
from tidewatch.detect.signals import analyse
from tidewatch.errors import TidewatchError

DEFAULT_THRESHOLD = 0.5
DEFAULT_C = 4.0
DEFAULT_SEED = 13
LABELS = {"advert": 1, "not_advert": 0}


@dataclass
class TrainReport:
    examples: int
    adverts: int
    languages: dict[str, int]
    oof_precision: float
    oof_recall: float
    oof_f1: float
    oof_pr_auc: float
    corpus_sha256: str
    path: Path


def load_corpus(folder: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise TidewatchError(f"{folder}: no *.jsonl corpus files")
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("label") not in LABELS or not str(row.get("text", "")).strip():
                raise TidewatchError(
                    f"{path}:{number}: needs text and a label of advert or not_advert"
                )
            rows.append(row)
    return rows


def train(
    corpus: Path,
    out: Path,
    *,
    seed: int = DEFAULT_SEED,
    c: float = DEFAULT_C,
    threshold: float = DEFAULT_THRESHOLD,
    config: FeatureConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrainReport:
    rows = load_corpus(corpus)
    config = config or FeatureConfig()
    analyses = []
    for number, row in enumerate(rows, start=1):
        analyses.append(analyse(row["text"]))
        if progress and number % 200 == 0:
            progress(number, len(rows))
    features = Featurizer(config).transform(analyses)
    labels = np.asarray([LABELS[row["label"]] for row in rows])
    groups = np.asarray([f"{row.get('lang', '')}|{row['label']}" for row in rows])
    oof = out_of_fold(features, labels, groups, c=c, seed=seed)
    platt_a, platt_b = fit_platt(oof, labels)
    final = fit_linear(features, labels, c=c, seed=seed)
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps([row["text"], row["label"]], ensure_ascii=False).encode())
    calibrated = 1 / (1 + np.exp(-(platt_a * oof + platt_b)))
    predicted = (calibrated >= threshold).astype(int)
    languages: dict[str, int] = {}
    for row in rows:
        languages[row.get("lang", "")] = languages.get(row.get("lang", ""), 0) + 1
    report = TrainReport(
        examples=len(rows),
        adverts=int(labels.sum()),
        languages=dict(sorted(languages.items())),
        oof_precision=float(precision_score(labels, predicted)),
        oof_recall=float(recall_score(labels, predicted)),
        oof_f1=float(f1_score(labels, predicted)),
        oof_pr_auc=float(average_precision_score(labels, calibrated)),
        corpus_sha256=digest.hexdigest(),
        path=out,
    )
    model = LinearModel(
        config=config,
        coef=final.coef_.ravel().astype(np.float32),
        intercept=float(final.intercept_[0]),
        platt_a=platt_a,
        platt_b=platt_b,
        threshold=threshold,
        metadata={
            "version": f"linear-{report.corpus_sha256[:10]}-s{seed}",
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "seed": seed,
            "C": c,
            "examples": report.examples,
            "adverts": report.adverts,
            "corpus_sha256": report.corpus_sha256,
            "out_of_fold": {
                "precision": round(report.oof_precision, 4),
                "recall": round(report.oof_recall, 4),
                "f1": round(report.oof_f1, 4),
                "pr_auc": round(report.oof_pr_auc, 4),
            },
        },
    )
    model.save(out)
    return report
