"""The convexification chapter's Table 4 run (experiments.convexification.top_layer): the frozen maps
against the CNN's layers written out, the CCNN layer's scores against an explicit loop over the
frozen maps' patches, the monotone objective of full-batch projected gradient, the ball, the
untouched CNN, the table and the refused arguments (lecturelib.convex is tested in
tests/test_convex_ccnn.py)."""

import dataclasses

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from lecturelib import cache, data, models
from lecturelib.experiments.convexification import top_layer as tl


def _tiny(**changes):
    setting = dataclasses.replace(tl.top_layer_setting(full=False), n_train=60, n_test=30, size=16, cnn_epochs=1,
                                  ccnn_features=16, ccnn_steps=6, seeds=(0, 1))
    return dataclasses.replace(setting, **changes)


def _split(setting):
    return data.mnist_variation("basic", setting.n_train, setting.n_test, size=setting.size, seed=0,
                                source="digits")


def _cnn(setting, seed=0):
    torch.manual_seed(seed)
    return models.ShallowCNN((1, setting.size, setting.size), 10, setting.filters, "relu", setting.kernel_size)


def test_settings():
    small, full = tl.top_layer_setting(full=False), tl.top_layer_setting(full=True)
    assert small.name == "CNN-2" and small.source == "digits" and len(small.seeds) >= 3
    assert full.name == "CNN-3" and full.source == "cifar10" and (full.n_train, full.n_test) == (50_000, 10_000)
    # three unpadded layers of the full setting fit in 32x32 images
    models.ShallowCNN((3, 32, 32), 10, full.filters, "relu", full.kernel_size)
    with pytest.raises(TypeError, match="full"):
        tl.top_layer_setting(full="yes")
    changed = tl.top_layer_setting(full=False, cnn_epochs=2, ccnn_steps=3)
    assert (changed.cnn_epochs, changed.ccnn_steps) == (2, 3)
    assert dataclasses.replace(changed, cnn_epochs=small.cnn_epochs, ccnn_steps=small.ccnn_steps) == small
    with pytest.raises(TypeError, match="epoch"):
        tl.top_layer_setting(full=False, epoch=3)
    with pytest.raises(ValueError, match="ccnn_steps"):
        tl.top_layer_setting(full=False, ccnn_steps=0)
    with pytest.raises(ValueError, match="ccnn_radius"):
        tl.top_layer_setting(full=False, ccnn_radius=-1.0)
    with pytest.raises(ValueError, match="seeds"):
        tl.top_layer_setting(full=False, seeds=())


def test_frozen_features_are_the_first_layer_written_out_in_any_chunks():
    setting = _tiny()
    net, x = _cnn(setting), _split(setting).X_train[:7]
    conv = net.convs[0]
    reference = F.avg_pool2d(torch.relu(F.conv2d(x.double(), conv.weight.double(), conv.bias.double())), 2)
    for chunk_size in (1, 3, 512):
        maps = tl.frozen_features(net, x, chunk_size=chunk_size)
        assert maps.shape == (7, 16, 6, 6)
        torch.testing.assert_close(maps.double(), reference, rtol=1e-5, atol=1e-6)
    one_layer = models.ShallowCNN((1, 16, 16), 10, (4,))  # CNN-1: its top layer reads the image itself
    torch.testing.assert_close(tl.frozen_features(one_layer, x), x)
    with pytest.raises(TypeError, match="model"):
        tl.frozen_features(torch.nn.Linear(3, 3), x)
    with pytest.raises(ValueError, match="chunk_size"):
        tl.frozen_features(net, x, chunk_size=0)


def test_the_ccnn_layer_reads_the_frozen_maps_and_leaves_the_cnn_alone():
    setting = _tiny()
    split, net = _split(setting), _cnn(setting)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fit = tl.convexify_top_layer(net, split, setting)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    maps = tl.frozen_features(net, split.X_test[:5])                       # (5, 16, 6, 6)
    features = fit.features
    assert features.in_channels == 16 and features.patch_size == setting.kernel_size
    assert features.image_size == (6, 6) and features.n_positions == 1                 # 6 - 5 + 1 = 2, pooled 2x2
    # explicit loop over positions and features: f_k(x) = sum_{q, j} Z(h(x))_qj (A_k)_qj, with Z computed
    # from the frozen maps h(x) (not the pixels) by the fitted features (tested in tests/test_convex_*)
    expected = torch.zeros(5, 10, dtype=torch.float64)
    Z = features(maps).double()                                             # (5, Q, m)
    for i in range(5):
        for k in range(10):
            expected[i, k] = sum(float(Z[i, q, j]) * float(fit.weight[k, q, j])
                                 for q in range(Z.shape[1]) for j in range(Z.shape[2]))
    torch.testing.assert_close(fit.scores(maps).double(), expected, rtol=1e-4, atol=1e-5)


def test_projected_gradient_decreases_the_objective_inside_the_ball():
    setting = _tiny(ccnn_radius=5.0, ccnn_steps=20)
    split = _split(setting)
    fit = tl.convexify_top_layer(_cnn(setting), split, setting)
    objective = np.array(fit.objective)
    assert len(objective) == 21 and objective[0] == pytest.approx(np.log(10), rel=1e-6)  # A = 0 first
    assert np.all(np.diff(objective) <= 1e-6) and objective[-1] < objective[0] - 0.1
    assert float(fit.singular_values().sum()) <= 5.0 * (1 + 1e-5)
    again = tl.convexify_top_layer(_cnn(setting), split, setting)           # deterministic: no sampling
    torch.testing.assert_close(again.weight, fit.weight, rtol=0, atol=0)


def test_runs_table_and_spec():
    setting = _tiny()
    split = _split(setting)
    result = tl.top_layer_runs(setting, split)
    assert [r.seed for r in result.runs] == [0, 1] and result.cnn_errors.shape == (2,)
    for run in result.runs:
        assert 0 <= run.cnn_error <= 1 and 0 <= run.ccnn_error <= 1 and 0 <= run.ccnn_train_error <= 1
        assert np.all(np.diff(run.singular_values) <= 1e-6) and run.singular_values.sum() <= run.radius * (1 + 1e-5)
    # the CNN error is the one its cached run records
    cached = cache.cached_run(tl.cnn_spec(split, setting, 1))
    assert cached.from_cache and result.runs[1].cnn_error == pytest.approx(1 - cached.history.test_accuracy[-1])
    text = tl.format_table4(result)
    assert "CNN-2 on digits" in text and "34.14" in text and "18.18" in text
    mean = 100 * result.ccnn_errors.mean()
    assert f"{mean:.1f}" in text.splitlines()[2]
    with pytest.raises(TypeError, match="result"):
        tl.format_table4("table")
    with pytest.raises(TypeError, match="setting"):
        tl.top_layer_runs({"n_train": 3})
    with pytest.raises(TypeError, match="split"):
        tl.cnn_spec("digits", setting, 0)
