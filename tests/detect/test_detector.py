"""The packaged detector: verdicts, calibrated scores and reasons an analyst can check."""

from __future__ import annotations

import itertools
import random

import pytest

from tests.conftest import ROOT
from tests.detect.perturb import ALL, everything
from tidewatch.detect.classifier import word_indices, words
from tidewatch.detect.detector import ADVERT, NOT_ADVERT, Detector, _text_columns
from tidewatch.detect.signals import analyse
from tidewatch.detect.train import load_corpus
from tidewatch.model import Media, Platform, Post


@pytest.fixture(scope="module")
def detector() -> Detector:
    # The first stage alone: fast, and what the figures below are about.
    return Detector.load(second_stage=False)


def test_an_explicit_crossing_offer_is_an_advert(detector: Detector) -> None:
    [result] = detector.detect_texts(
        ["Next boat to UK tonight from Calais 🚤 100% safe, price 1500£ per person, DM on WhatsApp"]
    )
    assert result.label == ADVERT
    assert result.score > 0.9
    assert "crossing_offer" in result.categories


def test_a_news_story_about_the_takedown_programme_is_not_flagged(detector: Detector) -> None:
    [result] = detector.detect_texts(
        [
            "Over 8,000 accounts connected to people smuggling were taken down after referrals by the National Crime Agency, "
            "which works with Meta, X, TikTok and YouTube to remove posts advertising small-boat crossings."
        ]
    )
    assert result.label == NOT_ADVERT


def test_a_rescue_hotline_with_a_phone_number_is_not_flagged(detector: Detector) -> None:
    [result] = detector.detect_texts(
        [
            "If you are in distress at sea call the Alarm Phone +33 4 86 51 71 61. Give your GPS position and the number of people on board."
        ]
    )
    assert result.label == NOT_ADVERT


def test_every_reason_quotes_the_exact_original_text(detector: Detector) -> None:
    text = "Ｎｅｘｔ departure wh\u200batsapp ٠٠٢١٨٩١٢٣٤٥٦٧٨ — 🚤 price €2.000 per person"
    [result] = detector.detect_texts([text])
    assert result.reasons
    for reason in result.reasons:
        assert text[reason.start : reason.end] == reason.evidence
        assert reason.evidence.strip()


def test_reasons_read_in_a_picture_say_so_and_the_captions_do_not(detector: Detector) -> None:
    picture = Media(
        kind="photo", image_text="SPEEDBOAT TO ITALY 1500 EURO WHATSAPP +218 91 234 5678"
    )
    post = Post(
        platform=Platform.TELEGRAM,
        native_id="1500/1",
        text="Call +44 7911 123456 for the trip",
        media=(picture,),
    )
    [result] = detector.detect_posts([post])
    text = post.detectable_text
    [(start, end)] = post.image_text_spans()
    assert text[start:end] == picture.image_text
    marked = [r for r in result.reasons if r.source == "image_text"]
    unmarked = [r for r in result.reasons if not r.source]
    assert marked and unmarked
    assert all(start <= r.start and r.end <= end for r in marked)
    assert all(r.end <= start for r in unmarked)
    assert all(text[r.start : r.end] == r.evidence for r in result.reasons)
    assert "source" not in unmarked[0].model_dump()  # stored reasons of plain text unchanged


def test_reasons_carry_signed_weights_sorted_by_size(detector: Detector) -> None:
    [result] = detector.detect_texts(
        [
            "Police arrested smugglers who advertised boat trips on WhatsApp for £1,500 per person, court hears"
        ]
    )
    weights = [abs(r.weight) for r in result.reasons]
    assert weights == sorted(weights, reverse=True)
    assert any(r.weight < 0 for r in result.reasons), "reporting cues should pull the score down"


def test_scores_are_probabilities_and_the_label_follows_the_threshold(detector: Detector) -> None:
    results = detector.detect_texts(["hello", "رحلة الى ايطاليا", "game tonight inshallah DM"])
    for result in results:
        assert 0.0 <= result.score <= 1.0
        assert (result.label == ADVERT) == (result.score >= detector.threshold)


def test_adverts_and_negatives_of_every_corpus_language_are_told_apart(detector: Detector) -> None:
    rows = load_corpus(ROOT / "data" / "corpus")
    by_language: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_language.setdefault(row["lang"], []).append(row)
    required = {
        "en",
        "ar",
        "ckb",
        "kmr",
        "fa",
        "prs",
        "ps",
        "sq",
        "vi",
        "tr",
        "fr",
        "ur",
        "es",
        "ti",
        "am",
        "ar-Latn",
    }
    assert required <= set(by_language)
    for language in required:
        sample = by_language[language][:: max(1, len(by_language[language]) // 40)]
        labels = {row["label"] for row in sample}
        assert labels == {ADVERT, NOT_ADVERT}, language
        results = detector.detect_texts([row["text"] for row in sample])
        correct = sum(r.label == row["label"] for r, row in zip(results, sample, strict=True))
        assert correct / len(sample) >= 0.8, f"{language}: {correct}/{len(sample)} (training texts)"


def test_evasion_tricks_cost_at_most_five_points_of_recall(detector: Detector) -> None:
    rows = load_corpus(ROOT / "data" / "corpus")
    adverts = [row["text"] for row in rows if row["label"] == ADVERT][::5]
    base = sum(r.label == ADVERT for r in detector.detect_texts(adverts)) / len(adverts)
    tricks = {**ALL, "all at once": everything}
    for name, trick in tricks.items():
        rng = random.Random(7)
        perturbed = [trick(text, rng) for text in adverts]
        assert perturbed != adverts
        recall = sum(r.label == ADVERT for r in detector.detect_texts(perturbed)) / len(adverts)
        assert base - recall <= 0.05, f"{name}: recall {base:.3f} -> {recall:.3f}"


def test_word_reasons_reuse_the_featurizers_hashes_of_the_posts_own_words(
    detector: Detector,
) -> None:
    # The classifier's text is the post's text and then extra tokens (emoji, joined digits):
    # the columns picked for the post's own words and bigrams are those hashing them gives.
    texts = [row["text"] for row in load_corpus(ROOT / "data" / "corpus")[::25]]
    texts += ["🚤🌊 boat 🇮🇹 tonight 3 5 5 1 2 3 4 5 6 7", "", "💶"]
    analyses = [analyse(text) for text in texts]
    hashed = detector.featurizer().blocks(analyses).word_columns
    assert hashed is not None
    size = detector.model.config.word_features
    with_extras = 0
    for row, analysis in enumerate(analyses):
        tokens = [w for w, _, _ in words(analysis.normalised.text)]
        bigrams = [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
        columns = hashed.columns[hashed.indptr[row] : hashed.indptr[row + 1]]
        assert _text_columns(columns, len(tokens)) == word_indices(tokens + bigrams, size)
        with_extras += bool(analysis.extra_tokens)
    assert with_extras >= 3
