"""The per-language expression patterns are dispatched on their first character for speed;
these tests hold them to the plain alternation they replace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tidewatch.detect.lexicon import _BEFORE, _expression_pattern, load_lexicons
from tidewatch.detect.normalise import normalise
from tidewatch.detect.train import load_corpus

CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus"


def _plain(expressions: list[tuple[str, str]]) -> re.Pattern[str]:
    return re.compile(_BEFORE + "(?:" + "|".join(f"(?P<{g}>{e})" for g, e in expressions) + ")")


def _matches(
    pattern: re.Pattern[str], text: str, groups: dict[str, tuple[str, str]]
) -> list[tuple[int, int, tuple[str, str]]]:
    return [(m.start(), m.end(), groups[m.lastgroup or ""]) for m in pattern.finditer(text)]


def test_the_first_matching_expression_wins_as_in_the_plain_alternation() -> None:
    # "ab" before "a\w+": at "abc" the first listed wins in both forms; "\w+" may start
    # anywhere, so it must stay reachable from every branch and after them.
    expressions = [("g0", "ab"), ("g1", r"a\w+"), ("g2", r"(el )?boat"), ("g3", r"\w+z")]
    groups = {"g0": ("signal", "one"), "g1": ("signal", "two")}
    groups |= {"g2": ("signal", "three"), "g3": ("negative", "four")}
    dispatched = _expression_pattern(expressions, groups)
    plain = _plain(expressions)
    for text in ("abc", "ax ab", "el boat", "boat elz", "quiz abz", "", "é boat", "zz"):
        assert _matches(dispatched, text, groups) == _matches(plain, text, groups), text
    assert _matches(dispatched, "abc el boat", groups) == [
        (0, 2, ("signal", "one")),
        (4, 11, ("signal", "three")),
    ]


def test_an_expression_that_can_match_empty_is_tried_everywhere() -> None:
    expressions = [("g0", "x"), ("g1", "y?")]
    groups = {"g0": ("signal", "x"), "g1": ("signal", "y")}
    dispatched = _expression_pattern(expressions, groups)
    for text in ("", "x", "a y", "-x y"):
        assert _matches(dispatched, text, groups) == _matches(_plain(expressions), text, groups)


@pytest.mark.slow
def test_every_language_matches_the_plain_alternation_on_the_corpus() -> None:
    lexicons = load_lexicons()
    texts = [normalise(str(row["text"])).text for row in load_corpus(CORPUS)[::5]]
    assert set(lexicons.expressions) == set(lexicons.expression_patterns)
    for language, expressions in lexicons.expressions.items():
        plain = _plain(expressions)
        dispatched = lexicons.expression_patterns[language]
        for text in texts:
            assert _matches(dispatched, text, lexicons.expression_groups) == _matches(
                plain, text, lexicons.expression_groups
            ), (language, text)
