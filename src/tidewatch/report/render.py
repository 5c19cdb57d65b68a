"""The transparency report as JSON, CSV, HTML (inline SVG charts) and PDF (WeasyPrint).

Every text that reaches HTML goes through Jinja's autoescaping, charts included: platform,
language and route names come from data, and data is hostile until shown otherwise.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from jinja2 import Environment, select_autoescape

from tidewatch.report.cells import spreadsheet_text

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Tidewatch transparency report {{ r.period.from }} to {{ r.period.to }}</title>
<style>
body { font-family: "DejaVu Sans", sans-serif; margin: 2em; color: #111; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #999; padding: 2px 6px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.chart { margin: 0.5em 0 1.5em; }
.note { color: #444; font-size: 90%; }
</style></head><body>
<h1>Transparency report</h1>
<p>Period {{ r.period.from }} to {{ r.period.to }}. Metric definitions version
{{ r.definitions_version }}.</p>
<h2>Totals</h2>
<table>{% for k, v in r.totals.items() %}<tr><th>{{ k }}</th><td>{{ fmt(v) }}</td></tr>{% endfor %}</table>
<h2>Per year</h2>
{{ chart("Accounts removed per year", years, "accounts_removed") }}
<table><tr><th>year</th><th>referrals</th><th>accounts referred</th><th>accounts removed</th>
<th>posts, pages or accounts removed</th><th>removal rate</th><th>actioned</th>
<th>change on previous year</th><th>cumulative accounts removed</th></tr>
{% for y in r.by_year %}<tr><td>{{ y.year }}{% if y.partial %} (part){% endif %}</td>
<td>{{ y.referrals }}</td><td>{{ y.accounts_referred }}</td><td>{{ y.accounts_removed }}</td>
<td>{{ y.items_removed }}</td><td>{{ pct(y.removal_rate) }}</td><td>{{ pct(y.actioned_rate) }}</td>
<td>{{ pct(y.change_on_previous_year) }}</td><td>{{ y.cumulative_accounts_removed }}</td></tr>{% endfor %}
</table>
<h2>Per platform</h2>
{{ chart("Accounts removed per platform", platforms, "accounts_removed") }}
{{ chart("Removal rate per platform (%)", platform_rates, "rate") }}
{{ table(r.by_platform, "platform") }}
<h2>Per language</h2>{{ table(r.by_language, "language") }}
<h2>Per route</h2>{{ table(r.by_route, "route") }}
<h2>Time from referral to action</h2>
<p>{{ r.time_to_action.count }} actioned referrals: median {{ fmt(r.time_to_action.p50_hours) }} h,
90th percentile {{ fmt(r.time_to_action.p90_hours) }} h, 95th {{ fmt(r.time_to_action.p95_hours) }} h,
mean {{ fmt(r.time_to_action.mean_hours) }} h.</p>
{{ chart("Referrals by time to action", tta, "count") }}
<h2>Re-emergence and reviewer agreement</h2>
<p>Re-emergence: {{ r.reemergence.reemerged }} of {{ r.reemergence.accounts_removed }} removed accounts
({{ pct(r.reemergence.rate) }}) had a selector reused by a new account within
{{ r.reemergence.window_days }} days.
Reviewer agreement: {{ r.reviewer_agreement.items }} items reviewed twice, agreement
{{ pct(r.reviewer_agreement.agreement) }}, Cohen's kappa {{ fmt(r.reviewer_agreement.kappa) }}.</p>
<h2>Methodology</h2>
<p>Definitions version {{ r.definitions.version }} (in force from {{ r.definitions.effective_from }}).
"Accounts" and "posts, pages or accounts" are different figures and are never added together.</p>
<table><tr><th>metric</th><th>unit</th><th>what counts</th></tr>
{% for m in r.definitions.metrics %}<tr><td>{{ m.name }}</td><td>{{ m.unit }}</td>
<td style="text-align:left">{{ m.counts }}</td></tr>{% endfor %}</table>
<p class="note">Routes are assigned from the places the detector found in the referred posts:
{% for name, places in r.definitions.routes.items() %}{{ name }} ({{ places | join(", ") }}){% if not loop.last %}; {% endif %}{% endfor %}.</p>
</body></html>
"""

_TABLE = """<table><tr><th>{{ key }}</th><th>referrals</th><th>accounts referred</th>
<th>accounts removed</th><th>posts, pages or accounts removed</th><th>removal rate</th>
<th>actioned</th></tr>{% for row in rows %}<tr><td>{{ row[key] }}</td><td>{{ row.referrals }}</td>
<td>{{ row.accounts_referred }}</td><td>{{ row.accounts_removed }}</td><td>{{ row.items_removed }}</td>
<td>{{ pct(row.removal_rate) }}</td><td>{{ pct(row.actioned_rate) }}</td></tr>{% endfor %}</table>"""

_CHART = """<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{{ width }}" height="{{ height }}"
 role="img" aria-label="{{ title }}"><title>{{ title }}</title>
<text x="0" y="14" font-size="13" font-weight="bold">{{ title }}</text>
{% for bar in bars %}<text x="0" y="{{ bar.y + 13 }}" font-size="11">{{ bar.label }}</text>
<rect x="110" y="{{ bar.y }}" width="{{ bar.w }}" height="16" fill="#2f6690"/>
<text x="{{ 114 + bar.w }}" y="{{ bar.y + 13 }}" font-size="11">{{ bar.value }}</text>{% endfor %}
</svg>"""


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def svg_bar_chart(title: str, bars: list[tuple[str, float]], *, width: int = 520) -> str:
    """A horizontal bar chart as inline SVG; labels and title are escaped by the template."""
    top = max((v for _, v in bars), default=0) or 1
    rows = [
        {
            "label": label,
            "value": _fmt(value),
            "w": round((width - 190) * value / top, 1),
            "y": 24 + 20 * n,
        }
        for n, (label, value) in enumerate(bars)
    ]
    template = _ENV.from_string(_CHART)
    return template.render(title=title, bars=rows, width=width, height=30 + 20 * len(rows))


def to_html(report: dict[str, Any]) -> str:
    from markupsafe import Markup

    def chart(title: str, bars: list[tuple[str, float]], _key: str) -> Markup:
        return Markup(svg_bar_chart(title, bars))

    def table(rows: list[dict[str, Any]], key: str) -> Markup:
        return Markup(_ENV.from_string(_TABLE).render(rows=rows, key=key, pct=_pct))

    years = [(str(y["year"]), y["accounts_removed"]) for y in report["by_year"]]
    platforms = [(p["platform"], p["accounts_removed"]) for p in report["by_platform"]]
    rates = [
        (p["platform"], round((p["removal_rate"] or 0) * 100, 1)) for p in report["by_platform"]
    ]
    tta = [(b["bin"], b["count"]) for b in report["time_to_action"]["histogram"]]
    return _ENV.from_string(_TEMPLATE).render(
        r=report,
        years=years,
        platforms=platforms,
        platform_rates=rates,
        tta=tta,
        chart=chart,
        table=table,
        pct=_pct,
        fmt=_fmt,
    )


def to_pdf(report: dict[str, Any]) -> bytes:
    from weasyprint import HTML

    pdf: bytes = HTML(string=to_html(report)).write_pdf()
    return pdf


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


_CSV_FIELDS = (
    "referrals",
    "accounts_referred",
    "items_referred",
    "accounts_removed",
    "items_removed",
    "actioned_referrals",
    "removal_rate",
    "actioned_rate",
)


def to_csv(report: dict[str, Any]) -> str:
    """One row per breakdown line: section, key, then the figures (a spreadsheet's view)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["section", "key", *_CSV_FIELDS, "change_on_previous_year", "cumulative_accounts_removed"]
    )
    writer.writerow(["totals", "", *(report["totals"][f] for f in _CSV_FIELDS), "", ""])
    for row in report["by_year"]:
        writer.writerow(
            [
                "year",
                row["year"],
                *(row[f] for f in _CSV_FIELDS),
                row["change_on_previous_year"],
                row["cumulative_accounts_removed"],
            ]
        )
    for section, key in (("platform", "platform"), ("language", "language"), ("route", "route")):
        for row in report[f"by_{section}"]:
            writer.writerow(
                [section, spreadsheet_text(row[key]), *(row[f] for f in _CSV_FIELDS), "", ""]
            )
    for row in report["by_platform_year"]:
        key = f"{row['platform']}/{row['year']}"
        writer.writerow(
            ["platform_year", spreadsheet_text(key), *(row[f] for f in _CSV_FIELDS), "", ""]
        )
    for bucket in report["time_to_action"]["histogram"]:
        writer.writerow(["time_to_action", bucket["bin"], bucket["count"], *[""] * 9])
    return buffer.getvalue()


RENDERERS = {"json": to_json, "csv": to_csv, "html": to_html}
