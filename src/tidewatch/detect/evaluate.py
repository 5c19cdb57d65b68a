"""Evaluate the detector on labelled JSON lines (``text`` and ``label``; optional ``lang``,
``category``, ``id``): precision, recall, F1 and PR-AUC overall, per language and per
category, with every false positive and false negative listed."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score

from tidewatch.detect.detector import ADVERT, Detector
from tidewatch.errors import TidewatchError


@dataclass
class Figures:
    n: int
    adverts: int
    precision: float | None
    recall: float | None
    f1: float | None
    pr_auc: float | None
    false_positives: int
    false_negatives: int


@dataclass
class Evaluation:
    threshold: float
    model_version: str
    overall: Figures
    by_language: dict[str, Figures] = field(default_factory=dict)
    by_category: dict[str, Figures] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def figures(labels: np.ndarray, predicted: np.ndarray, scores: np.ndarray) -> Figures:
    tp = int(((labels == 1) & (predicted == 1)).sum())
    fp = int(((labels == 0) & (predicted == 1)).sum())
    fn = int(((labels == 1) & (predicted == 0)).sum())
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision and recall
        else (0.0 if precision is not None and recall is not None else None)
    )
    pr_auc = (
        float(average_precision_score(labels, scores)) if 0 < labels.sum() < len(labels) else None
    )
    return Figures(len(labels), int(labels.sum()), precision, recall, f1, pr_auc, fp, fn)


def read_labelled(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise TidewatchError(f"{path}:{number}: not JSON ({error.msg})") from None
        if (
            not isinstance(row, dict)
            or "text" not in row
            or row.get("label") not in ("advert", "not_advert")
        ):
            raise TidewatchError(f"{path}:{number}: needs text and a label of advert or not_advert")
        rows.append(row)
    if not rows:
        raise TidewatchError(f"{path}: no labelled lines")
    return rows


def evaluate(
    rows: list[dict[str, Any]], detector: Detector, threshold: float | None = None
) -> Evaluation:
    threshold = detector.threshold if threshold is None else threshold
    detections = detector.detect_texts(str(row["text"]) for row in rows)
    labels = np.asarray([1 if row["label"] == ADVERT else 0 for row in rows])
    scores = np.asarray([d.score for d in detections])
    predicted = (scores >= threshold).astype(int)
    result = Evaluation(
        threshold=threshold,
        model_version=detector.version,
        overall=figures(labels, predicted, scores),
    )
    for key, attribute in (("by_language", "lang"), ("by_category", "category")):
        groups: dict[str, list[int]] = {}
        for index, row in enumerate(rows):
            groups.setdefault(str(row.get(attribute) or "?"), []).append(index)
        table = {
            name: figures(labels[idx], predicted[idx], scores[idx])
            for name, idx in sorted(groups.items())
        }
        setattr(result, key, table)
    for row, detection, label, guess in zip(rows, detections, labels, predicted, strict=True):
        if label != guess:
            result.errors.append(
                {
                    "kind": "false_positive" if guess else "false_negative",
                    "id": row.get("id", ""),
                    "lang": row.get("lang", detection.lang),
                    "category": row.get("category", ""),
                    "score": detection.score,
                    "text": row["text"],
                    "reasons": [r.model_dump() for r in detection.reasons[:5]],
                }
            )
    return result
