"""Language identification with script rules for the languages the general model misses."""

from __future__ import annotations

import pytest

from tidewatch.detect.language import detect_language


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
