"""lecturelib.models.dropout against torch.nn.functional.dropout (bit for bit on the CPU), its
expectations, the vanilla form's test-time scaling, and MLP training unchanged by the switch."""

import math

import pytest
import torch
import torch.nn.functional as F

from lecturelib import data, models, train
from lecturelib.models.dropout import Dropout, dropout

PS = (0.1, 0.25, 0.5, 1 / 3, 0.9, 0.999)  # drop probabilities, as F.dropout takes them
SHAPES = ((1,), (7,), (32, 33), (4, 5, 6), (2, 3, 4, 5))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("shape", SHAPES)
def test_inverted_dropout_equals_torch_bitwise_and_advances_the_global_rng_alike(p, shape, dtype):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=dtype).requires_grad_(True)
    torch.manual_seed(3)
    expected = F.dropout(x, p, training=True)
    after_torch = torch.rand(5, dtype=torch.float64)  # where the global stream stands afterwards
    torch.manual_seed(3)
    got = dropout(x, keep=1 - p)
    after_ours = torch.rand(5, dtype=torch.float64)
    assert got.dtype == dtype and got.shape == x.shape
    assert torch.equal(got, expected)
    assert torch.equal(after_ours, after_torch)
    upstream = torch.randn(shape, generator=torch.Generator().manual_seed(2), dtype=dtype)
    grad_ours, = torch.autograd.grad((got * upstream).sum(), x)
    grad_torch, = torch.autograd.grad((expected * upstream).sum(), x)
    assert torch.equal(grad_ours, grad_torch)


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_a_generator_gives_its_own_stream_and_leaves_the_global_one_alone(p):
    x = torch.randn(50, 20, dtype=torch.float64)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    got = dropout(x, keep=1 - p, generator=torch.Generator().manual_seed(11))
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(11)  # the same stream through the global generator
    assert torch.equal(got, F.dropout(x, p, training=True))
    again = dropout(x, keep=1 - p, generator=torch.Generator().manual_seed(11))
    other = dropout(x, keep=1 - p, generator=torch.Generator().manual_seed(12))
    assert torch.equal(got, again) and not torch.equal(got, other)


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.8])
def test_inverted_dropout_keeps_a_share_keep_scaled_by_one_over_keep(keep):
    x = torch.ones(400, 500, dtype=torch.float64)
    out = dropout(x, keep, generator=torch.Generator().manual_seed(0))
    kept = out != 0
    n = x.numel()
    # share of kept units within 5 binomial standard deviations of keep
    assert abs(kept.double().mean().item() - keep) < 5 * math.sqrt(keep * (1 - keep) / n)
    assert torch.equal(out[kept], torch.full((int(kept.sum()),), 1 / keep, dtype=torch.float64))
    # the mean is preserved: E[out] = x, again within 5 standard deviations (std of out is sqrt((1-keep)/keep))
    assert abs(out.mean().item() - 1.0) < 5 * math.sqrt((1 - keep) / keep / n)


@pytest.mark.parametrize("keep", [0.3, 0.7])
def test_vanilla_dropout_keeps_units_unscaled_and_scales_by_keep_at_test(keep):
    x = torch.randn(60, 70, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    vanilla = dropout(x, keep, inverted=False, generator=torch.Generator().manual_seed(5))
    inverted = dropout(x, keep, inverted=True, generator=torch.Generator().manual_seed(5))
    assert torch.equal(vanilla != 0, inverted != 0)  # one mask for both forms
    assert torch.equal(vanilla[vanilla != 0], x[vanilla != 0])
    torch.testing.assert_close(inverted, vanilla / keep, rtol=1e-15, atol=0)
    assert torch.equal(dropout(x, keep, inverted=False, training=False), x * keep)
    assert dropout(x, keep, inverted=True, training=False) is x


def test_test_time_and_keep_one_are_exact_and_draw_nothing():
    x = torch.randn(10, 10)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    assert dropout(x, 1.0) is x
    assert dropout(x, 1.0, inverted=False) is x
    assert dropout(x, 0.5, training=False) is x
    assert dropout(torch.empty(0, 3), 0.5).shape == (0, 3)
    assert torch.equal(torch.get_rng_state(), before)


def test_the_module_follows_train_and_eval_mode():
    layer = Dropout(keep=0.6)
    x = torch.randn(30, 40, dtype=torch.float64)
    torch.manual_seed(8)
    trained = layer(x)
    torch.manual_seed(8)
    assert torch.equal(trained, F.dropout(x, 1 - 0.6, training=True))
    assert layer.eval()(x) is x
    vanilla = Dropout(keep=0.6, inverted=False).eval()
    assert torch.equal(vanilla(x), x * 0.6)
    assert "keep=0.6" in repr(layer) and "inverted=False" in repr(vanilla)
    generator_out = Dropout(0.6).train()(x, generator=torch.Generator().manual_seed(2))
    assert torch.equal(generator_out, dropout(x, 0.6, generator=torch.Generator().manual_seed(2)))


@pytest.mark.parametrize("keep, error", [(0.0, ValueError), (-0.1, ValueError), (1.5, ValueError),
                                         (float("nan"), ValueError), (float("inf"), ValueError),
                                         ("0.5", TypeError), (True, TypeError)])
def test_bad_keep_is_refused_by_name(keep, error):
    with pytest.raises(error, match="keep"):
        dropout(torch.ones(3), keep)
    with pytest.raises(error, match="keep"):
        Dropout(keep)


def test_other_bad_arguments_are_refused_by_name():
    with pytest.raises(TypeError, match="x"):
        dropout([1.0, 2.0], 0.5)
    with pytest.raises(TypeError, match="floating"):
        dropout(torch.ones(3, dtype=torch.int64), 0.5)
    with pytest.raises(TypeError, match="inverted"):
        dropout(torch.ones(3), 0.5, inverted=1)
    with pytest.raises(TypeError, match="training"):
        dropout(torch.ones(3), 0.5, training="yes")
    with pytest.raises(TypeError, match="generator"):
        dropout(torch.ones(3), 0.5, generator=0)
    with pytest.raises(TypeError, match="inverted"):
        Dropout(0.5, inverted=None)


def _mlp_with_torch_dropout(model, x):
    """The forward pass MLP had before it used lecturelib's dropout: F.dropout(act(v), p, training)."""
    z = x
    for linear, norm, act in zip(model.layers[:-1], model.norms, model.activations):
        z = F.dropout(act(norm(linear(z))), model.dropout, model.training)
    return model.layers[-1](z)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_mlp_trains_exactly_as_it_did_with_torch_dropout(p, monkeypatch):
    split = data.digits().subset(300, 100)
    runs = []
    for forward in (None, _mlp_with_torch_dropout):
        torch.manual_seed(0)
        model = models.MLP([64, 32, 32, 10], "relu", dropout=p)
        with monkeypatch.context() as patch:
            if forward is not None:
                patch.setattr(models.MLP, "forward", forward)
            torch.manual_seed(1)  # the global stream the masks come from
            history = train.fit(model, split, lr=0.1, momentum=0.9, epochs=3, batch_size=32, seed=2)
        runs.append((history, dict(model.state_dict())))
    (ours, state_ours), (theirs, state_theirs) = runs
    assert ours.train_loss == theirs.train_loss and ours.test_loss == theirs.test_loss
    for name in state_ours:
        assert torch.equal(state_ours[name], state_theirs[name]), name


def test_mlp_dropout_goes_through_the_module_function(monkeypatch):
    calls = []
    original = models.mlp._dropout

    def spy(x, keep, **kwargs):
        calls.append((keep, kwargs))
        return original(x, keep, **kwargs)

    monkeypatch.setattr(models.mlp, "_dropout", spy)
    model = models.MLP([4, 3, 3, 2], dropout=0.25)
    model(torch.ones(2, 4))
    model.eval()(torch.ones(2, 4))
    assert calls == [(0.75, {"training": True})] * 2 + [(0.75, {"training": False})] * 2
