"""The maintained mapping from what an advert offers to each recipient's own policy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from tidewatch.model import Recipient


@dataclass(frozen=True)
class Policy:
    name: str
    url: str
    summary: str
    categories: frozenset[str]
    default: bool


@cache
def _load() -> tuple[str, dict[Recipient, list[Policy]]]:
    text = resources.files("tidewatch.referrals").joinpath("policies.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    mapping: dict[Recipient, list[Policy]] = {}
    for name, entry in data["recipients"].items():
        mapping[Recipient(name)] = [
            Policy(
                name=p["name"],
                url=p["url"],
                summary=p["summary"],
                categories=frozenset(p.get("categories", ())),
                default=bool(p.get("default", False)),
            )
            for p in entry["policies"]
        ]
    return str(data["version"]), mapping


def mapping_version() -> str:
    return _load()[0]


def policies_for(recipient: Recipient | str) -> list[Policy]:
    return list(_load()[1][Recipient(recipient)])


def policies_broken(recipient: Recipient | str, categories: Iterable[str]) -> list[Policy]:
    """The recipient's policies that posts of ``categories`` break; the default policy when
    none matches (a reviewed advert always breaks at least the smuggling policy)."""
    wanted = set(categories)
    all_policies = policies_for(recipient)
    chosen = [p for p in all_policies if p.categories & wanted]
    if not any(p.default for p in chosen):
        chosen = [p for p in all_policies if p.default] + chosen
    return chosen
