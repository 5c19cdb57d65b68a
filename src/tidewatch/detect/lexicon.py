"""Lexicons and the gazetteer: data files under ``lexicons/``, compiled into fast matchers.

Each ``<lang>.yaml`` lists terms under ``signals`` (cues that a text *offers* a service) and
``negative_cues`` (cues that it *talks about* one). Terms are normalised with the same
:func:`~tidewatch.detect.normalise.normalise` as posts, so spelling folds apply to both sides.
A term starting with ``re:`` is a regular expression on normalised text.

All languages are matched against every post: adverts switch language mid-sentence, and
language identification is unreliable on twenty-word posts. One trie-shaped regular
expression per category keeps that fast (thousands of terms, one pass each).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import regex
import yaml

from tidewatch.detect.normalise import normalise

SIGNAL_CATEGORIES = (
    "crossing",
    "transport",
    "handoff",
    "price_terms",
    "guarantee",
    "urgency",
    "incentive",
    "documents",
    "testimonial",
    "code_words",
    "travel_framing",
    "disinformation",
)
NEGATIVE_CATEGORIES = ("reporting", "official", "rescue", "legal_aid", "platform", "commerce")

# Word edges that treat combining marks (Arabic harakat, Bengali and Devanagari vowel signs)
# and ZWNJ as part of a word. Written as explicit ranges for the standard library's engine,
# which runs these tries four times faster than the ``regex`` module.
_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
    "\u0900-\u0903\u093a-\u094f\u0962\u0963\u0981-\u0983\u09bc-\u09d7\u09e2\u09e3\u200c"
)
_BEFORE = rf"(?<![\w{_MARKS}])"
# The standard library's own regular-expression parser and its opcodes (no public names), so
# that first characters are read from exactly the parse the engine compiles.
_SRE_PARSER: Any = importlib.import_module("re._parser")
_SRE: Any = importlib.import_module("re._constants")
_AFTER = rf"(?![\w{_MARKS}])"


@dataclass(frozen=True)
class Hit:
    kind: str  # "signal", "negative" or "place"
    category: str  # lexicon category, or the place's role
    start: int  # in normalised text
    end: int
    term: str  # normalised text matched
    place_id: str = ""


@dataclass
class Place:
    id: str
    role: str
    country: str
    kind: str
    routes: tuple[str, ...]


@dataclass
class Lexicons:
    """Compiled matchers: one trie for every plain term of every language, one pattern per
    language for its regular expressions, one trie for place names."""

    languages: tuple[str, ...]
    word_pattern: Any = None
    word_categories: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    term_languages: dict[str, set[str]] = field(default_factory=dict)
    expression_patterns: dict[str, Any] = field(default_factory=dict)  # language -> pattern
    #: language -> (group, expression) as listed, the source of its pattern
    expressions: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    expression_groups: dict[str, tuple[str, str]] = field(
        default_factory=dict
    )  # group -> (kind, category)
    places: dict[str, Place] = field(default_factory=dict)
    place_names: dict[str, str] = field(default_factory=dict)  # normalised name -> place id
    place_pattern: Any = None

    def match(self, text: str, languages: Iterable[str] = ()) -> list[Hit]:
        """All hits in normalised ``text``, in order of position.

        Regular-expression terms (morphological variants) are tried only for ``languages``
        and for languages whose plain terms already matched: running every language's
        expressions on every post would cost ten times more for nothing.
        """
        hits: list[Hit] = []
        matched_languages = set(languages)
        if self.word_pattern is not None:
            for found in self.word_pattern.finditer(text):
                term = found.group()
                owners = self.term_languages.get(term, ())
                if len(owners) <= 2:  # "whatsapp", "100%", "vip" say nothing about the language
                    matched_languages.update(owners)
                for kind, category in self.word_categories.get(term, ()):
                    hits.append(Hit(kind, category, found.start(), found.end(), term))
        for language in sorted(matched_languages):
            pattern = self.expression_patterns.get(language)
            if pattern is None:
                continue
            for found in pattern.finditer(text):
                kind, category = self.expression_groups[found.lastgroup or ""]
                hits.append(Hit(kind, category, found.start(), found.end(), found.group()))
        if self.place_pattern is not None:
            for found in self.place_pattern.finditer(text):
                place_id = self.place_names.get(found.group(), "")
                role = self.places[place_id].role if place_id in self.places else "place"
                hits.append(Hit("place", role, found.start(), found.end(), found.group(), place_id))
        unique = {(h.kind, h.category, h.start, h.end): h for h in hits}
        return sorted(unique.values(), key=lambda h: (h.start, -h.end))


def _trie_pattern(terms: set[str]) -> str:
    """A regular expression equivalent to ``term1|term2|...`` but shaped as a trie, so the
    engine does not retry thousands of alternatives at every position."""
    trie: dict[str, Any] = {}
    for term in terms:
        node = trie
        for char in term:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = [
            regex.escape(char) + build(child) for char, child in sorted(node.items()) if char
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends:
            return "(?:" + body + ")?"
        return body

    return build(trie)


def _word_pattern(words: Iterable[str]) -> Any:
    return re.compile(_BEFORE + "(?:" + _trie_pattern(set(words)) + ")" + _AFTER)


def _normalised_term(term: str) -> str:
    return " ".join(normalise(term.strip()).text.split())


@cache
def load_lexicons() -> Lexicons:
    """Every lexicon in the package, compiled once per process."""
    folder = resources.files("tidewatch.detect") / "lexicons"
    lexicons = Lexicons(languages=())
    languages: list[str] = []
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".yaml") or item.name == "places.yaml":
            continue
        data = yaml.safe_load(item.read_text(encoding="utf-8"))
        language = str(data["language"])
        languages.append(language)
        expressions: list[tuple[str, str]] = []  # (group name, expression)
        for kind, section in (("signal", "signals"), ("negative", "negative_cues")):
            for category, terms in (data.get(section) or {}).items():
                for term in terms or []:
                    term = str(term)
                    if term.startswith("re:"):
                        group = f"g{len(lexicons.expression_groups)}"
                        lexicons.expression_groups[group] = (kind, str(category))
                        expressions.append((group, term[3:]))
                        continue
                    normal = _normalised_term(term)
                    if normal:
                        lexicons.word_categories.setdefault(normal, set()).add(
                            (kind, str(category))
                        )
                        lexicons.term_languages.setdefault(normal, set()).add(language)
        if expressions:
            lexicons.expressions[language] = expressions
            lexicons.expression_patterns[language] = _expression_pattern(
                expressions, lexicons.expression_groups
            )
    lexicons.languages = tuple(languages)
    lexicons.word_pattern = _word_pattern(lexicons.word_categories)
    _load_places(lexicons, folder / "places.yaml")
    return lexicons


def _expression_pattern(
    expressions: list[tuple[str, str]], groups: dict[str, tuple[str, str]]
) -> Any:
    """One pattern for a language's expressions, each in a group named after its entry in
    ``groups``, matching exactly what ``(?P<g1>e1)|(?P<g2>e2)|...`` matches.

    Anchored at word starts: mid-word positions fail at once (terms are words, not word
    middles). At a word start the engine would try every expression in turn, which made
    languages with sixty expressions cost half a millisecond a post; so the alternation is
    dispatched on the character at the start: each branch tries, in their original order,
    only the expressions that can start with that character. The first expression that
    matches wins in both forms, so the matches and their groups are the same. A copy of an
    expression in several branches gets a group name of its own, registered in ``groups``
    under the same (kind, category).
    """
    plain = _BEFORE + "(?:" + "|".join(f"(?P<{g}>{e})" for g, e in expressions) + ")"
    try:
        firsts = [_first_characters(expression) for _, expression in expressions]
    except re.error:  # a term uses the regex module's extensions (\p{...})
        return regex.compile(plain, regex.V0)
    if all(first is None for first in firsts):
        return re.compile(plain)
    every = frozenset().union(*(first for first in firsts if first is not None))
    # Characters that start the same expressions share one branch.
    branches: dict[tuple[int, ...], list[str]] = {}
    for char in sorted(every):
        members = tuple(i for i, first in enumerate(firsts) if first is None or char in first)
        branches.setdefault(members, []).append(char)
    anywhere = tuple(i for i, first in enumerate(firsts) if first is None)
    copies: dict[str, int] = {}

    def group(index: int) -> str:
        name, expression = expressions[index]
        copy = copies.get(name, 0)
        copies[name] = copy + 1
        if copy:
            groups[f"{name}_{copy}"] = groups[name]
            name = f"{name}_{copy}"
        return f"(?P<{name}>{expression})"

    def alternatives(members: tuple[int, ...]) -> str:
        return "(?:" + "|".join(group(i) for i in members) + ")"

    # Large classes first: those are the common letters, so fewer lookaheads fail first.
    parts = [
        f"(?=[{_class(chars)}]){alternatives(members)}"
        for members, chars in sorted(branches.items(), key=lambda kv: -len(kv[1]))
    ]
    if anywhere:
        parts.append(f"(?![{_class(every)}]){alternatives(anywhere)}")
    return re.compile(_BEFORE + "(?:" + "|".join(parts) + ")")


def _class(chars: Iterable[str]) -> str:
    return "".join(re.escape(char) for char in sorted(chars))


def _first_characters(expression: str) -> frozenset[str] | None:
    """The characters a match of ``expression`` can start with, or None when that is not
    known (a category such as \\w, a negated class, a pattern that can match the empty string)."""
    parsed = _SRE_PARSER.parse(expression)
    if parsed.state.flags & _SRE.SRE_FLAG_IGNORECASE:
        return None
    chars, nullable = _first_of_sequence(list(parsed), _SRE)
    return None if chars is None or nullable else frozenset(chars)


def _first_of_sequence(items: list[Any], c: Any) -> tuple[set[str] | None, bool]:
    """(possible first characters or None for any, whether the sequence can match empty)."""
    found: set[str] = set()
    for op, argument in items:
        chars, nullable = _first_of_item(op, argument, c)
        if chars is None:
            return None, False
        found |= chars
        if not nullable:
            return found, False
    return found, True


def _first_of_item(op: Any, argument: Any, c: Any) -> tuple[set[str] | None, bool]:
    if op is c.LITERAL:
        return {chr(argument)}, False
    if op is c.IN:
        chars: set[str] = set()
        for kind, value in argument:
            if kind is c.LITERAL:
                chars.add(chr(value))
            elif kind is c.RANGE and value[1] - value[0] < 4096:
                chars.update(chr(code) for code in range(value[0], value[1] + 1))
            else:  # NEGATE, CATEGORY (\w, \d...), huge ranges
                return None, False
        return chars, False
    if op is c.BRANCH:
        found: set[str] = set()
        nullable = False
        for branch in argument[1]:
            branch_chars, branch_nullable = _first_of_sequence(list(branch), c)
            if branch_chars is None:
                return None, False
            found |= branch_chars
            nullable = nullable or branch_nullable
        return found, nullable
    if op is c.SUBPATTERN:
        _group, add_flags, _del_flags, sub = argument
        if add_flags & c.SRE_FLAG_IGNORECASE:
            return None, False
        return _first_of_sequence(list(sub), c)
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
        low, _high, sub = argument
        sub_chars, sub_nullable = _first_of_sequence(list(sub), c)
        return sub_chars, sub_nullable or low == 0
    if op in (c.AT, c.ASSERT, c.ASSERT_NOT):  # zero width: the next item decides
        return set(), True
    return None, False


def _load_places(lexicons: Lexicons, path: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for entry in data.get("places", []):
        place = Place(
            id=str(entry["id"]),
            role=str(entry.get("role", "place")),
            country=str(entry.get("country", "")),
            kind=str(entry.get("kind", "")),
            routes=tuple(str(r) for r in entry.get("route", []) or []),
        )
        lexicons.places[place.id] = place
        for name in entry.get("names", []) or []:
            normal = _normalised_term(str(name))
            if normal:
                lexicons.place_names.setdefault(normal, place.id)
    if lexicons.place_names:
        lexicons.place_pattern = _word_pattern(lexicons.place_names)
