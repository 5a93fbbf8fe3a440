"""lecturelib.experiments.convexification.table1: the lectures' Table 1 at laptop scale, on a tiny setting."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lecturelib import cache, convex, data, models
from lecturelib.experiments.convexification import table1 as t1


pytestmark = pytest.mark.usefixtures("one_thread")   # conftest gives every test its own cache


@pytest.fixture(scope="module")
def tiny():
    return dataclasses.replace(t1.table1_setting(full=False), n_train=80, n_test=40, seeds=(0, 1), cnn_epochs=1,
                               ccnn_epochs=1, ccnn_features=(20, 30))


def test_paper_table_is_the_lectures():
    assert t1.ROWS == ("SVM-rbf", "CNN-1 (ReLU)", "CCNN-1", "CNN-2 (ReLU)", "CNN-2 (Quad)", "CCNN-2")
    assert t1.PAPER_TABLE1["CNN-1 (ReLU)"] == (3.37, 9.83, 18.84, 14.23, 45.96)
    assert t1.PAPER_TABLE1["CCNN-2"] == (1.38, 4.32, 6.98, 7.46, 30.23)
    paper = {row: np.array(v) for row, v in t1.PAPER_TABLE1.items()}
    assert (paper["CCNN-1"] < paper["CNN-1 (ReLU)"]).all() and (paper["CCNN-2"] < paper["CNN-2 (ReLU)"]).all()


def test_settings(monkeypatch):
    small, full = t1.table1_setting(full=False), t1.table1_setting(full=True)
    assert (full.n_train, full.n_test, full.size, full.source) == (10_000, 50_000, 28, "mnist")
    assert small.source == "digits" and len(small.seeds) >= 3 and small.n_train <= 2000
    monkeypatch.setenv("LECTURELIB_SCALE", "full")
    assert t1.table1_setting() == full
    with pytest.raises(TypeError, match="full"):
        t1.table1_setting(full="yes")


def test_cnn_runs_train_the_paper_models_and_are_cached(tiny):
    split = t1.variation_split("rand", tiny)
    assert split.X_train.shape == (80, 1, tiny.size, tiny.size)
    spec = t1.cnn_spec(split, "CNN-2 (Quad)", 1, tiny)
    model = spec.build()
    assert isinstance(model, models.ShallowCNN) and model.filters == (16, 32) and model.activation == "quad"
    errors, losses = t1.cnn_errors(split, "CNN-1 (ReLU)", tiny)
    assert errors.shape == losses.shape == (2,) and ((0 <= errors) & (errors <= 1)).all()
    run = cache.cached_run(t1.cnn_spec(split, "CNN-1 (ReLU)", 0, tiny))
    assert run.from_cache and errors[0] == pytest.approx(1 - run.history.test_accuracy[-1], abs=0)
    with pytest.raises(ValueError, match="row"):
        t1.cnn_spec(split, "CNN-3", 0, tiny)


def test_svm_error_is_zero_on_separable_data(tiny):
    X = torch.zeros(20, 1, 4, 4)
    X[10:] = 1.0
    y = (torch.arange(20) >= 10).long()
    split = data.DataSplit(X, y, X.clone(), y.clone(), "two constant images")
    assert t1.svm_error(split, tiny) == 0.0
    flipped = data.DataSplit(X, y, X.clone(), 1 - y, "labels swapped on test")
    assert t1.svm_error(flipped, tiny) == 1.0


def test_ccnn_runs_match_a_direct_fit(tiny):
    split = t1.variation_split("basic", tiny)
    runs = t1.ccnn_runs(split, tiny)
    assert len(runs.errors_1) == len(runs.objectives_1) == 2
    features = convex.PatchKernelFeatures(1, tiny.size, patch_size=5, pool=2, n_features=20, seed=0).fit(split.X_train)
    direct = convex.fit_ccnn(features, split.X_train, split.y_train, radius=tiny.ccnn_radius[0], lr=tiny.ccnn_lr,
                             epochs=1, batch_size=tiny.batch_size, seed=1, project_every=10)  # streamed
    assert runs.errors_1[1] == pytest.approx(direct.error(split.X_test, split.y_test), abs=1e-12)
    assert runs.objectives_1[1] == pytest.approx(direct.loss(split.X_train, split.y_train), rel=1e-5)
    assert 0 <= runs.error_2 <= 1


def test_table_and_its_format(tiny):
    result = t1.table1(tiny, variants=("basic", "img"))
    assert result.variants == ("basic", "img")
    for row in t1.ROWS:
        columns = 1 if row in ("SVM-rbf", "CCNN-2") else 2
        assert result.errors[row].shape == (2, columns), row
    assert set(result.train_losses) == {"CNN-1 (ReLU)", "CNN-2 (ReLU)", "CNN-2 (Quad)", "CCNN-1"}
    np.testing.assert_allclose(result.mean("CCNN-1"), result.errors["CCNN-1"].mean(axis=1))
    np.testing.assert_allclose(result.spread("CNN-1 (ReLU)"), np.ptp(result.errors["CNN-1 (ReLU)"], axis=1))
    text = t1.format_table1(result)
    assert all(row in text for row in t1.ROWS) and "7.46" in text and "30.23" not in text  # img, not img+rot
    with pytest.raises(ValueError, match="variants"):
        t1.table1(tiny, variants=("mnist",))
    with pytest.raises(TypeError, match="setting"):
        t1.table1({"n_train": 10})
