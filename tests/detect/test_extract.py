"""Selectors and prices come out with canonical values and exact spans."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tidewatch.detect.extract import _AMOUNT, _AMOUNT_RE, links, messengers, phones, prices
from tidewatch.detect.normalise import normalise
from tidewatch.detect.train import load_corpus

CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus"


def norm(text: str) -> str:
    return normalise(text).text


def test_international_numbers_become_e164() -> None:
    [found] = phones(norm("call +218 91 234 5678 now"), [])
    assert found.value == "+218912345678"


def test_national_numbers_use_the_region_the_context_suggests() -> None:
    [found] = phones(norm("اتصل 091 234 5678"), ["LY"])
    assert found.value == "+218912345678"


def test_a_later_region_still_reads_a_national_number_the_first_could_not() -> None:
    found = phones(norm("call +216 20 123 456 or 091 234 5678 today"), ["TN", "LY"])
    assert [f.value for f in found] == ["+21620123456", "+218912345678"]


def test_later_regions_look_only_for_numbers_of_seven_digits_or_more_not_yet_read() -> None:
    # "392748" is a valid short German number, but here a hashtag: once the first region has
    # read every run long enough to be a phone number, the next region is not asked.
    found = phones(norm("Pozovite +381 21 445 017. #392748"), ["RS", "DE"])
    assert [f.value for f in found] == ["+38121445017"]


def test_arabic_indic_digits_are_read_as_a_phone_number() -> None:
    [found] = phones(norm("واتس +٢١٨٩١٢٣٤٥٦٧٨"), [])
    assert found.value == "+218912345678"


def test_invalid_numbers_are_not_phones_at_valid_leniency() -> None:
    assert phones(norm("order 1234567 shipped, ref 99999999"), ["GB"]) == []


def test_whatsapp_and_telegram_links_are_messenger_selectors() -> None:
    found = {
        (f.detail, f.value)
        for f in messengers(norm("wa.me/447911123456 or https://t.me/Safar_Europa"))
    }
    assert ("whatsapp", "wa.me/447911123456") in found
    assert ("telegram", "t.me/safar_europa") in found


def test_messenger_names_in_arabic_and_persian_are_mentions() -> None:
    kinds = {f.kind for f in messengers(norm("تواصل واتساب او تلگرام"))}
    assert kinds == {"messenger_mention"}


def test_prices_in_many_styles_are_normalised() -> None:
    values = [
        f.value for f in prices(norm("£1,500 per person, 2.500€ for kids, 3k$ VIP, ٣٠٠٠ دينار"))
    ]
    assert values == ["GBP 1500", "EUR 2500", "USD 3000", "LYD 3000"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3 mil euro a persona", "EUR 3000"),  # a thousand-word between amount and currency
        ("٥ ألف دولار للشخص", "USD 5000"),
        ("6 mijë euro", "EUR 6000"),
        ("20 lakh mein dunki", "INR 2000000"),  # lakh is money by itself
        ("٢٥ لاکھ روپے", "PKR 2500000"),
        ("١٥٠٠ د.ل", "LYD 1500"),
        ("1800 dt pour la traversée", "TND 1800"),
        ("250 000 FCFA jusqu'à Agadez", "XOF 250000"),
        ("2000 quid cash", "GBP 2000"),
        ("1200 ډالر", "USD 1200"),
    ],
)
def test_prices_in_local_words_and_with_thousands_words(text: str, value: str) -> None:
    assert [f.value for f in prices(norm(text))] == [value]


def test_a_thousand_word_without_a_currency_is_not_a_price() -> None:
    assert prices(norm("5 mil people crossed, 2 bin kilometres")) == []


@pytest.mark.parametrize(
    "text",
    ["20 lakh people left Punjab", "5 lakh log bahar gaye", "٢٠ لاکھ لوگ", "10 लाख लोग विदेश गए"],
)
def test_a_lakh_of_people_is_not_a_price(text: str) -> None:
    assert prices(norm(text)) == []


def test_links_handles_and_emails() -> None:
    found = {
        (f.kind, f.value)
        for f in links(norm("see https://example.org/x, @travel_uk, info@agency.example"))
    }
    assert ("url", "https://example.org/x") in found
    assert ("handle", "travel_uk") in found
    assert ("email", "info@agency.example") in found


def test_amounts_are_found_where_the_plain_pattern_finds_them() -> None:
    plain = re.compile(rf"(?<![\w.])(?:{_AMOUNT})")
    texts = [normalise(str(row["text"])).text for row in load_corpus(CORPUS)]
    texts += ["1.500 €, 3k, 2,5 $ x1 .5 1 500 000,25 4 k 12kg", "٣٠٠٠ 1,000,000.50 a.7 ،5"]
    found = 0
    for text in texts:
        expected = [m.span() for m in plain.finditer(text)]
        assert [m.span() for m in _AMOUNT_RE.finditer(text)] == expected, text
        found += len(expected)
    assert found > 100


def test_a_link_without_a_slash_or_www_is_not_a_url_and_an_at_sign_makes_handles() -> None:
    assert links("see example.com today") == []
    assert [f.kind for f in links("www.example.com and @boat_man and a@b.co")] == [
        "url",
        "email",
        "handle",
    ]
