"""Evaluation results as Rich tables for people (``tidewatch evaluate``)."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from tidewatch.detect.evaluate import Evaluation, Figures


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _table(title: str, rows: dict[str, Figures]) -> Table:
    table = Table(title=title)
    for name in ("", "n", "adverts", "precision", "recall", "F1", "PR-AUC", "FP", "FN"):
        table.add_column(name, justify="left" if not name else "right")
    for name, f in rows.items():
        table.add_row(
            name,
            str(f.n),
            str(f.adverts),
            _fmt(f.precision),
            _fmt(f.recall),
            _fmt(f.f1),
            _fmt(f.pr_auc),
            str(f.false_positives),
            str(f.false_negatives),
        )
    return table


def evaluation_report(result: Evaluation, *, max_errors: int = 50) -> Group:
    parts: list[Table | Text] = [
        _table(
            f"Overall (threshold {result.threshold:.2f}, model {result.model_version})",
            {"all": result.overall},
        ),
        _table("By language", result.by_language),
        _table("By category", result.by_category),
    ]
    errors = Table(title="False positives and false negatives")
    for name in ("kind", "score", "lang", "category", "text", "top reasons"):
        errors.add_column(name)
    for item in result.errors[:max_errors]:
        reasons = "; ".join(
            f"{r['signal']} {r['evidence']!r} {r['weight']:+.2f}" for r in item["reasons"][:3]
        )
        # Text() keeps post text literal: no Rich markup is interpreted from hostile input.
        errors.add_row(
            item["kind"],
            f"{item['score']:.3f}",
            str(item["lang"]),
            str(item["category"]),
            Text(str(item["text"])[:160]),
            Text(reasons),
        )
    parts.append(errors)
    return Group(*parts)
