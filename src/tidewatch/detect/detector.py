"""The detector: posts in, detections out. No database, no network: the same code runs in the
CLI, the server and a Spark executor.

    detector = Detector.load()
    [detection] = detector.detect_texts(["Boat to Italy tonight, 100% safe, DM"])
    detection.score, detection.label, detection.reasons
"""

from __future__ import annotations

import gc
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from tidewatch.detect.classifier import Featurizer, LinearModel, word_indices, words
from tidewatch.detect.embedding import SecondStage, available, embed
from tidewatch.detect.signals import SIGNAL_INDEX, Analysis, analyse, analyse_many
from tidewatch.model import IMAGE_TEXT, Detection, Post, Reason

ADVERT = "advert"
NOT_ADVERT = "not_advert"
MAX_REASONS = 12
MAX_TEXT_PATTERNS = 4
_MIN_WEIGHT = 0.02
#: Word-pattern reasons are looked up only for posts an analyst might review; for clear
#: negatives the signal reasons say enough and the lookup would cost a third of the scan.
TEXT_PATTERN_MIN_SCORE = 0.1

#: Advert categories named from the signals that fired (explainable, and the same words as
#: the corpus labels).
CATEGORY_SIGNALS: dict[str, tuple[str, ...]] = {
    "crossing_offer": (
        "lexicon_crossing",
        "place_departure",
        "emoji_speedboat",
        "emoji_boat",
        "emoji_ship",
        "emoji_wave",
    ),
    "route_transport": (
        "lexicon_transport",
        "emoji_truck",
        "emoji_van",
        "emoji_car",
        "emoji_plane",
        "place_transit",
    ),
    "private_chat_offer": (
        "lexicon_handoff",
        "messenger_link",
        "messenger_mention",
        "phone_number",
    ),
    "price_offer": ("price", "price_per_person", "lexicon_price_terms", "emoji_money"),
    "guarantee": ("lexicon_guarantee", "emoji_hundred", "emoji_check"),
    "incentive": ("lexicon_incentive",),
    "fake_documents": ("lexicon_documents", "emoji_passport"),
    "testimonial": ("lexicon_testimonial",),
    "code_word": ("lexicon_code_words",),
    "disinformation_hook": ("lexicon_disinformation",),
    "urgency": ("lexicon_urgency",),
    "travel_framing": ("lexicon_travel_framing",),
}
_SPEEDBOAT = re.compile(
    r"speed ?boat|jet ?boat|yacht|يخت|سبيد بوت|اسپید بوت|qayiq|gomone|tàu cao tốc|lancha|hors-bord"
)
MODEL_PATH = "models/detector.npz"
SECOND_STAGE_PATH = "models/embedding.npz"


@dataclass
class Detector:
    model: LinearModel
    #: The embedding stage for uncertain posts; None runs the first stage alone.
    second: SecondStage | None = None

    @classmethod
    def load(cls, path: Path | None = None, *, second_stage: bool = True) -> Detector:
        """The packaged model (or the one at ``path``, with the ``embedding.npz`` that
        ``tidewatch train`` writes beside it), with the second stage when it is there,
        wanted and its embedding engine is installed."""
        _settle()
        detector = (
            _packaged() if path is None else _from_files(path, path.with_name("embedding.npz"))
        )
        return detector if second_stage else cls(model=detector.model)

    @property
    def threshold(self) -> float:
        """Scores at or above this are labelled advert (each stage setup has its own, set at
        training time from out-of-fold precision)."""
        return self.second.threshold if self.second is not None else self.model.threshold

    @property
    def version(self) -> str:
        first = str(self.model.metadata.get("version", "unversioned"))
        if self.second is None:
            return first
        return f"{first}+{self.second.metadata.get('version', 'e5')}"

    def featurizer(self) -> Featurizer:
        return _featurizer(self.model.config)

    def score_analyses(self, analyses: Sequence[Analysis]) -> tuple[np.ndarray, np.ndarray]:
        """(decision values, calibrated probabilities) for a batch."""
        if not analyses:
            return np.zeros(0), np.zeros(0)
        decisions = self.model.decision_blocks(self.featurizer().blocks(analyses))
        return decisions, self.model.probability(decisions)

    def detect_texts(self, texts: Iterable[str]) -> list[Detection]:
        analyses = analyse_many(list(texts))
        return self._detections(analyses)

    def detect_posts(self, posts: Sequence[Post]) -> list[Detection]:
        analyses = analyse_many([post.detectable_text for post in posts])
        detections = self._detections(analyses)
        return [
            d.model_copy(
                update={
                    "post_id": p.native_id,
                    "platform": p.platform.value,
                    "account": p.account_id,
                    "reasons": _sourced(d.reasons, p.image_text_spans()),
                }
            )
            for p, d in zip(posts, detections, strict=True)
        ]

    def _detections(self, analyses: list[Analysis]) -> list[Detection]:
        if not analyses:
            return []
        featurizer = self.featurizer()
        blocks = featurizer.blocks(analyses)
        decisions = self.model.decision_blocks(blocks)
        scores = self.model.probability(decisions)
        second = np.zeros(len(analyses), dtype=bool)
        if self.second is not None:
            second = self.second.in_band(scores)
            if second.any():
                rows = np.flatnonzero(second)
                vectors = embed([analyses[i].text for i in rows])
                scores = scores.copy()
                scores[rows] = self.second.combine(decisions[rows], vectors)
        results = []
        threshold = self.threshold
        version = self.version
        words = blocks.words
        hashed = blocks.word_columns
        for row, (analysis, score) in enumerate(zip(analyses, scores.tolist(), strict=True)):
            label = ADVERT if score >= threshold else NOT_ADVERT
            counts = analysis.counts()
            # The row's (column, value) pairs, sliced from the CSR arrays: getrow() costs more.
            span = slice(words.indptr[row], words.indptr[row + 1])
            entries = (words.indices[span], words.data[span])
            columns = (
                hashed.columns[hashed.indptr[row] : hashed.indptr[row + 1]]
                if hashed is not None
                else None
            )
            reasons = self._reasons(
                analysis,
                counts,
                entries,
                featurizer,
                with_text=score >= TEXT_PATTERN_MIN_SCORE,
                columns=columns,
            )
            results.append(
                Detection(
                    score=round(score, 4),
                    label=label,
                    lang=analysis.lang,
                    categories=_categories(analysis, counts, reasons) if label == ADVERT else [],
                    reasons=reasons,
                    model_version=version,
                    stages=2 if second[row] else 1,
                )
            )
        return results

    def _reasons(
        self,
        analysis: Analysis,
        counts: Counter[str],
        row: tuple[np.ndarray, np.ndarray],
        featurizer: Featurizer,
        *,
        with_text: bool,
        columns: np.ndarray | None = None,
    ) -> list[Reason]:
        """Signals and word patterns that moved the score, each with its exact original span
        and its weight (contribution to the log-odds)."""
        coef = self.model.coef
        reasons: list[Reason] = []
        offset = featurizer.signal_offset()
        scale = featurizer.config.signal_scale
        # The signal feature of each signal present: log(1 + count), as in signal_vector().
        contribution = {
            name: float(coef[offset + SIGNAL_INDEX[name]]) * math.log1p(count) * scale
            for name, count in counts.items()
        }
        seen: set[tuple[str, int, int]] = set()
        for hit in analysis.hits:
            weight = contribution.get(hit.signal, 0.0) / max(counts[hit.signal], 1)
            key = (hit.signal, hit.start, hit.end)
            if abs(weight) < _MIN_WEIGHT or key in seen:
                continue
            seen.add(key)
            reasons.append(
                Reason(
                    signal=hit.signal,
                    evidence=hit.evidence,
                    start=hit.start,
                    end=hit.end,
                    weight=round(weight, 3),
                )
            )
        if with_text:
            reasons.extend(self._text_patterns(analysis, row, featurizer, columns))
        reasons.sort(key=lambda r: -abs(r.weight))
        return reasons[:MAX_REASONS]

    def _text_patterns(
        self,
        analysis: Analysis,
        row: tuple[np.ndarray, np.ndarray],
        featurizer: Featurizer,
        hashed: np.ndarray | None = None,
    ) -> list[Reason]:
        """The word n-grams with the largest positive contributions, located in the text.
        ``hashed`` are the columns the featurizer hashed this post's word features to, in
        order; without them the words are hashed again."""
        coef = self.model.coef
        base = featurizer.word_offset()
        size = featurizer.config.word_features
        columns, values = row  # the row of the word block: columns are word-feature indices
        if not len(columns):
            return []
        contributions = coef[base + columns] * values
        best = np.argsort(-contributions)[:MAX_TEXT_PATTERNS]
        wanted = {
            int(columns[i]): float(contributions[i]) for i in best if contributions[i] > _MIN_WEIGHT
        }
        if not wanted:
            return []
        tokens = words(analysis.normalised.text)
        found: list[Reason] = []
        candidates = [(s, e) for _, s, e in tokens] + [
            (a[1], b[2]) for a, b in itertools.pairwise(tokens)
        ]
        indices = (
            _text_columns(hashed, len(tokens))
            if hashed is not None
            else word_indices(
                [w for w, _, _ in tokens]
                + [f"{a[0]} {b[0]}" for a, b in itertools.pairwise(tokens)],
                size,
            )
        )
        for (first, last), index in zip(candidates, indices, strict=True):
            if index in wanted:
                weight = wanted.pop(index)
                o_first, o_last = analysis.normalised.span(first, last)
                found.append(
                    Reason(
                        signal="text_pattern",
                        evidence=analysis.text[o_first:o_last],
                        start=o_first,
                        end=o_last,
                        weight=round(weight, 3),
                    )
                )
            if not wanted:
                break
        return found


def _text_columns(hashed: np.ndarray, tokens: int) -> list[int]:
    """The columns of the post's own tokens and of the bigrams within its own text, picked
    from the columns of the classifier's text: that text is the post's, then the extra
    tokens (emoji, joined digits), so its features are all its tokens, then all its bigrams."""
    every = (len(hashed) + 1) // 2  # n tokens have n - 1 bigrams
    picked = list(hashed[:tokens]) + list(hashed[every : every + max(tokens - 1, 0)])
    return [int(column) for column in picked]


def _sourced(reasons: list[Reason], image_spans: list[tuple[int, int]]) -> list[Reason]:
    """Reasons whose words lie inside an image's text say so (``source="image_text"``): the
    analyst checks them against the picture, not the caption."""
    if not image_spans:
        return reasons
    return [
        reason.model_copy(update={"source": IMAGE_TEXT})
        if any(start <= reason.start and reason.end <= end for start, end in image_spans)
        else reason
        for reason in reasons
    ]


def _categories(analysis: Analysis, present: Counter[str], reasons: list[Reason]) -> list[str]:
    weights: dict[str, float] = {}
    signal_weight: dict[str, float] = {}
    for reason in reasons:
        signal_weight[reason.signal] = signal_weight.get(reason.signal, 0.0) + reason.weight
    for category, signals in CATEGORY_SIGNALS.items():
        if any(present.get(s) for s in signals):
            weights[category] = sum(max(signal_weight.get(s, 0.0), 0.0) for s in signals) + 0.001
    if _SPEEDBOAT.search(analysis.normalised.text):
        weights["speedboat_claim"] = (
            weights.get("route_transport", 0.0) + weights.get("crossing_offer", 0.0) + 0.002
        )
    return [c for c, _ in sorted(weights.items(), key=lambda kv: -kv[1])]


@cache
def _settle() -> None:
    """Load what a first detection loads (lexicons, the language model, phone metadata), then
    take every object alive now out of the cyclic garbage collector's scans (``gc.freeze``).
    About 150,000 such objects live as long as the process, and each full collection walked
    them all: a tenth of a scan's time, for nothing to collect."""
    analyse("Boat from Zuwara, 2000 euro per person, call +218 91 234 5678 or 091 234 5678")
    gc.collect()
    gc.freeze()


@cache
def _featurizer(config: object) -> Featurizer:
    return Featurizer(config)  # type: ignore[arg-type]


@cache
def _packaged() -> Detector:
    folder = resources.files("tidewatch.detect")
    with (
        resources.as_file(folder / MODEL_PATH) as model_file,
        resources.as_file(folder / SECOND_STAGE_PATH) as second_file,
    ):
        return _from_files(model_file, second_file)


def _from_files(model_file: Path, second_file: Path) -> Detector:
    if not model_file.exists():
        raise FileNotFoundError(f"no trained model at {model_file}; run `tidewatch train`")
    model = LinearModel.load(model_file)
    second = None
    if second_file.exists() and available():
        second = SecondStage.load(second_file)
        if second.metadata.get("first_stage") != model.metadata.get("version"):
            second = None  # trained against another first stage: its stacking would be wrong
    return Detector(model=model, second=second)
