"""Selectors and prices come out with canonical values and exact spans."""

from __future__ import annotations

from tidewatch.detect.extract import links, messengers, phones, prices
from tidewatch.detect.normalise import normalise


def norm(text: str) -> str:
    return normalise(text).text


def test_international_numbers_become_e164() -> None:
    [found] = phones(norm("call +218 91 234 5678 now"), [])
    assert found.value == "+218912345678"


def test_national_numbers_use_the_region_the_context_suggests() -> None:
    [found] = phones(norm("اتصل 091 234 5678"), ["LY"])
    assert found.value == "+218912345678"


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


def test_links_handles_and_emails() -> None:
    found = {
        (f.kind, f.value)
        for f in links(norm("see https://example.org/x, @travel_uk, info@agency.example"))
    }
    assert ("url", "https://example.org/x") in found
    assert ("handle", "travel_uk") in found
    assert ("email", "info@agency.example") in found
