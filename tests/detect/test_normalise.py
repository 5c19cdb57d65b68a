"""Normalisation undoes evasion tricks and still points back at the original characters."""

from __future__ import annotations

import re
from pathlib import Path

from tidewatch.detect.normalise import _SPREAD_DIGITS, extras, normalise
from tidewatch.detect.train import load_corpus

CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus"


def test_plain_text_is_lowercased_and_keeps_positions() -> None:
    result = normalise("Boat to UK")
    assert result.text == "boat to uk"
    assert result.index is None
    assert result.quote(8, 10) == "UK"


def test_zero_width_and_bidi_characters_are_removed_and_spans_map_back() -> None:
    text = "wh\u200batsa\u200dpp \u202etonight"
    result = normalise(text)
    assert result.text == "whatsapp tonight"
    start = result.text.index("whatsapp")
    assert result.quote(start, start + 8) == "wh\u200batsa\u200dpp"


def test_cyrillic_lookalikes_in_latin_words_are_folded() -> None:
    assert normalise("wһatsарр bоat").text == "whatsapp boat"


def test_mathematical_fancy_letters_are_folded() -> None:
    assert normalise("𝓫𝓸𝓪𝓽 𝕥𝕠 𝕦𝕜").text == "boat to uk"


def test_arabic_script_is_not_run_through_the_lookalike_folder() -> None:
    assert normalise("قارب الى ايطاليا").text == "قارب الي ايطاليا"


def test_arabic_indic_and_persian_digits_become_ascii() -> None:
    assert normalise("٠٩١٢٣ ۰۹۱۲۳").text == "09123 09123"


def test_arabic_spelling_variants_fold_but_kurdish_and_pashto_letters_stay() -> None:
    assert normalise("أإآ ى ة ك ی").text == "ااا ي ه ک ي"
    assert normalise("ڕێگە ښار ټول").text == "ڕێگە ښار ټول"


def test_diacritics_and_tatweel_are_removed() -> None:
    assert normalise("سَفَـــر").text == "سفر"


def test_fullwidth_letters_are_nfkc_folded() -> None:
    assert normalise("ＢＯＡＴ").text == "boat"


def test_meaningful_emoji_and_flags_become_tokens_with_their_spans() -> None:
    text = "UK 🚤🌊 🇬🇧"
    found = {(e.token, text[e.start : e.end]) for e in extras(text)}
    assert ("emoji_speedboat", "🚤") in found
    assert ("emoji_wave", "🌊") in found
    assert ("emoji_flag_gb", "🇬🇧") in found


def test_digits_spread_out_are_joined_into_one_token() -> None:
    text = "call 0 7 9 1 1 - 1 2 3 4 5 6"
    [extra] = [e for e in extras(text) if e.token.startswith("digits_")]
    assert extra.token == "digits_07911123456"
    assert text[extra.start : extra.end].startswith("0 7 9")


def test_a_character_that_decomposes_maps_every_piece_back_to_it() -> None:
    normal = normalise("a\u200b\ufb01le \u0661\u0662")  # zero-width space, "fi" ligature, ١٢
    assert normal.text == "afile 12"
    assert normal.index == (0, 2, 2, 3, 4, 5, 6, 7)
    assert normal.quote(1, 3) == "\ufb01"


def test_spread_digits_are_found_where_the_plain_pattern_finds_them() -> None:
    plain = re.compile(r"(?<!\d)\d(?:[ .\-_/]{1,3}\d){6,}(?!\d)")
    texts = [str(row["text"]) for row in load_corpus(CORPUS)]
    texts += ["0 9 1 2 3 4 5", "x10 9 1 2 3 4 5", "1-2-3-4-5-6-7-8", "12 3 4 5 6 7 8 9"]
    found = 0
    for text in texts:
        expected = [m.span() for m in plain.finditer(text)]
        assert [m.span() for m in _SPREAD_DIGITS.finditer(text)] == expected, text
        found += len(expected)
    assert found > 4
