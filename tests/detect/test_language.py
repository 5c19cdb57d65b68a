"""Language identification with script rules for the languages the general model misses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tidewatch.detect.language import (
    _ARABIZI_COMMON,
    _ROMAN_URDU,
    _by_rules,
    _model,
    _sample,
    detect_language,
    detect_languages,
)
from tidewatch.detect.train import load_corpus

CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Boat to Italy leaves tomorrow, write to me for the price", "en"),
        ("رحلة إلى إيطاليا غدا، السعر للشخص ثلاثة آلاف", "ar"),
        ("سفر به ترکیه با قیمت مناسب، تماس بگیرید", "fa"),
        ("ګرانو ورونو، موږ سبا اروپا ته ځو", "ps"),
        ("گەشتی بەریتانیا بە بەلەم، پەیوەندیمان پێوە بکەن", "ckb"),
        ("ኣብዚ ሰሙን ናብ ጣልያን ጉዕዞ ኣሎ", "ti"),
        ("ወደ ጣሊያን የሚሄድ ጀልባ አለ ዋጋው ስንት ነው", "am"),
        ("yalla 7arga l italia ghodwa, 9rib nkamlou", "ar-Latn"),
        ("bhai abhi game lagana hai to paise ready rakho aur jaldi karo", "ur"),
    ],
)
def test_languages_smugglers_write_in_are_identified(text: str, expected: str) -> None:
    assert detect_language(text) == expected


_WORD_LISTS = {
    "roman_urdu": (
        _ROMAN_URDU,
        "hai|hain|aur|nahi|nahin|bhai|kya|mein|hum|aap|apna|karo|karein|chahiye|wala|wali|"
        "paisa|paise|rupay|jana|jaana|kar|raha|rahe|sath|bilkul|abhi|yahan|wahan|kaam|log|se|ke|"
        "ki|ka",
    ),
    "arabizi": (
        _ARABIZI_COMMON,
        "inshallah|wallah|akhi|yalla|habibi|7arga|harga|l7rig|bateau|flouka|7rag|nhar|ghodwa|bch|"
        "barcha|mta3|taw|lbled|ya3ni",
    ),
}


@pytest.mark.parametrize("name", sorted(_WORD_LISTS))
def test_word_lists_find_what_the_plain_whole_word_pattern_finds(name: str) -> None:
    pattern, words = _WORD_LISTS[name]
    plain = re.compile(rf"(?<!\w)(?:{words})(?!\w)")
    texts = [str(row["text"]).lower() for row in load_corpus(CORPUS)]
    texts += ["hai hain haii ahai hai_ 7arga l7rig mta3 ya3ni\nka\nke", "kakaka ka", "x.ki,ke"]
    for text in texts:
        assert pattern.findall(text) == plain.findall(text), text
    assert len(pattern.findall(texts[-3])) >= 3  # the test text does have matches


def test_arabizi_words_need_a_digit_before_a_letter() -> None:
    assert detect_language("wa9t el 7arga bateau 3al sa3a") == "ar-Latn"
    assert detect_language("call 0091 2379 now 3 places") != "ar-Latn"


def test_a_batch_gets_the_languages_each_text_gets_alone() -> None:
    # The batch asks the model once for every text the script rules leave open; each answer
    # must be the one the model gives that text by itself.
    texts = [row["text"] for row in load_corpus(CORPUS)[::7]] + ["", "!!!", "ok", "🚤🚤"]
    samples = [_sample(text) for text in texts]
    alone = [_by_rules(sample) or _model(sample.lower()) for sample in samples]
    assert detect_languages(texts) == alone
    assert sum(_by_rules(sample) is None for sample in samples) > len(texts) // 2  # model's share
