"""lecturelib.regularization: soft-thresholding against a fine grid and the closed form, the
subgradient step against the lecture's formula, the weight EMA against torch.optim.swa_utils over a
training run, and the EMA hook through train.fit and a cached run."""

import functools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_avg_fn, get_ema_multi_avg_fn

from lecturelib import cache, data, models, regularization, train
from lecturelib.models.dropout import Dropout, dropout

finite = st.floats(min_value=-10, max_value=10, allow_nan=False, allow_infinity=False)


def test_dropout_is_re_exported():
    assert regularization.dropout is dropout and regularization.Dropout is Dropout


# ------------------------------------------------------------------ L1

@settings(max_examples=200, deadline=None)
@given(w=finite, t=st.floats(min_value=0, max_value=5, allow_nan=False))
def test_soft_threshold_minimises_the_proximal_objective_on_a_fine_grid(w, t):
    u = torch.linspace(-15, 15, 300_001, dtype=torch.float64)  # spacing 1e-4
    objective = t * u.abs() + 0.5 * (u - w) ** 2
    best = u[objective.argmin()].item()
    got = regularization.l1_proximal_step(torch.tensor([w], dtype=torch.float64), t).item()
    assert abs(got - best) <= 1e-4
    # and no grid point does better than the returned point (the objective is 1-strongly convex)
    value = t * abs(got) + 0.5 * (got - w) ** 2
    assert value <= objective.min().item() + 1e-12


def test_soft_threshold_closed_form_and_exact_zeros():
    w = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.2, 1.0, 2.5], dtype=torch.float64)
    got = regularization.l1_proximal_step(w, 1.0)
    assert torch.equal(got, torch.tensor([-2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.5], dtype=torch.float64))
    assert torch.equal(regularization.l1_proximal_step(w, 0.0), w)
    assert (regularization.l1_proximal_step(w, 0.5) == 0).sum() == 3  # |w| <= t hits exactly zero
    # soft-thresholding is torch's softshrink
    x = torch.randn(100, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(regularization.l1_proximal_step(x, 0.3), nn.functional.softshrink(x, 0.3),
                               rtol=0, atol=1e-15)


def test_proximal_gradient_descent_finds_the_lasso_solution_of_an_orthogonal_problem():
    # min_w 1/2 ||w - b||^2 + lam ||w||_1 has the solution soft(b, lam): ISTA converges to it
    b = torch.tensor([2.0, -0.3, 0.05, -1.5], dtype=torch.float64)
    lam, lr = 0.4, 0.5
    w = torch.zeros(4, dtype=torch.float64)
    for _ in range(200):
        w = regularization.l1_proximal_step(w - lr * (w - b), lr * lam)
    torch.testing.assert_close(w, torch.tensor([1.6, 0.0, 0.0, -1.1], dtype=torch.float64), rtol=0, atol=1e-12)
    assert torch.equal(w[1:3], torch.zeros(2, dtype=torch.float64))  # exact zeros, not tiny values


def test_subgradient_step_is_the_lecture_update_and_keeps_weights_off_zero():
    w = torch.tensor([1.0, -2.0, 0.0, 0.3], dtype=torch.float64)
    g = torch.tensor([0.5, 0.5, -1.0, 0.0], dtype=torch.float64)
    got = regularization.l1_subgradient_step(w, g, lr=0.1, lam=0.2)
    expected = torch.tensor([1.0 - 0.1 * 0.7, -2.0 - 0.1 * 0.3, 0.1, 0.3 - 0.02], dtype=torch.float64)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-15)
    # with only the penalty, the plain update oscillates around 0 instead of reaching it
    w = torch.tensor([0.05], dtype=torch.float64)
    path = []
    for _ in range(20):
        w = regularization.l1_subgradient_step(w, torch.zeros(1, dtype=torch.float64), lr=0.1, lam=0.3)
        path.append(w.item())
    assert all(v != 0 for v in path) and max(abs(v) for v in path[-10:]) <= 0.03 + 1e-12
    assert {v > 0 for v in path[-10:]} == {True, False}


@settings(max_examples=100, deadline=None)
@given(w=finite, g=finite, lr=st.floats(min_value=1e-3, max_value=1), lam=st.floats(min_value=0, max_value=2))
def test_subgradient_step_against_its_formula(w, g, lr, lam):
    sign = (w > 0) - (w < 0)
    got = regularization.l1_subgradient_step(torch.tensor([w], dtype=torch.float64),
                                             torch.tensor([g], dtype=torch.float64), lr, lam).item()
    assert got == pytest.approx(w - lr * (g + lam * sign), rel=1e-12, abs=1e-12)


def test_l1_bad_arguments_are_named():
    w = torch.ones(3)
    for call, error, name in [
        (lambda: regularization.l1_proximal_step(w, -0.1), ValueError, "threshold"),
        (lambda: regularization.l1_proximal_step(w, float("nan")), ValueError, "threshold"),
        (lambda: regularization.l1_proximal_step([1.0], 0.1), TypeError, "w"),
        (lambda: regularization.l1_subgradient_step(w, torch.ones(4), 0.1, 0.1), ValueError, "grad"),
        (lambda: regularization.l1_subgradient_step(w, w, 0.0, 0.1), ValueError, "lr"),
        (lambda: regularization.l1_subgradient_step(w, w, 0.1, -1.0), ValueError, "lam"),
        (lambda: regularization.l1_subgradient_step(w, w, 0.1, float("inf")), ValueError, "lam"),
    ]:
        with pytest.raises(error, match=name):
            call()


# ------------------------------------------------------------------ exponential moving average

def _bn_model(dtype=torch.float32):
    torch.manual_seed(0)
    return models.MLP([64, 24, 10], "relu", norm="batch").to(dtype)


def _split(dtype=torch.float32):
    split = data.digits().subset(300, 100)
    return split if dtype == torch.float32 else split.__class__(split.X_train.to(dtype), split.y_train,
                                                                 split.X_test.to(dtype), split.y_test)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("use_buffers, policy", [(True, "average"), (False, "copy")])
def test_ema_equals_torch_averaged_model_over_a_training_run(dtype, use_buffers, policy):
    model = _bn_model(dtype)
    references = [AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.995), use_buffers=use_buffers),
                  AveragedModel(model, avg_fn=get_ema_avg_fn(0.995), use_buffers=use_buffers)]
    ema = regularization.ExponentialMovingAverage(model, 0.995, buffers=policy)

    def on_step(network, step):
        for reference in references:
            reference.update_parameters(network)  # the first call (step 0) copies, as our constructor does
        if step:
            ema.update(network)

    train.fit(model, _split(dtype), lr=0.1, momentum=0.9, epochs=4, batch_size=32, on_step=on_step)
    assert ema.updates == 40
    ours = ema.averaged.state_dict()
    # the same lerp on the same numbers: equal to the last bit in practice; the stated tolerance is
    # a few float32 roundings of weights of size ~1 (float64: 1e-12)
    tol = dict(rtol=0, atol=1e-6 if dtype == torch.float32 else 1e-12)
    for reference in references:
        theirs = reference.module.state_dict()
        for name, value in ours.items():
            if name.endswith("num_batches_tracked"):
                assert torch.equal(value, model.state_dict()[name])  # counters are copied, never averaged
                continue
            torch.testing.assert_close(value, theirs[name], **tol, msg=name)
    # and the average is not the live model: the test guards against a copy
    assert not torch.allclose(ours["layers.0.weight"], model.state_dict()["layers.0.weight"])
    if policy == "copy":
        assert torch.equal(ours["norms.0.running_mean"], model.state_dict()["norms.0.running_mean"])


def test_ema_closed_form_after_a_few_updates():
    # x_test after updates towards x_1..x_T: beta^T x_0 + (1 - beta) sum_t beta^(T - t) x_t
    model = nn.Linear(3, 2).double()
    ema = regularization.ExponentialMovingAverage(model, decay=0.9)
    x0 = model.weight.detach().clone()
    points = [torch.randn(2, 3, generator=torch.Generator().manual_seed(t), dtype=torch.float64) for t in range(1, 6)]
    for point in points:
        with torch.no_grad():
            model.weight.copy_(point)
        ema.update(model)
    expected = 0.9 ** 5 * x0 + 0.1 * sum(0.9 ** (5 - t) * p for t, p in enumerate(points, start=1))
    torch.testing.assert_close(ema.averaged.weight, expected, rtol=0, atol=1e-14)
    assert not ema.averaged.weight.requires_grad
    assert model.weight.requires_grad  # the live model is untouched


def test_ema_refuses_bad_arguments_and_another_network():
    model = nn.Linear(3, 2)
    for call, error, name in [
        (lambda: regularization.ExponentialMovingAverage(model, 1.0), ValueError, "decay"),
        (lambda: regularization.ExponentialMovingAverage(model, -0.1), ValueError, "decay"),
        (lambda: regularization.ExponentialMovingAverage(model, float("nan")), ValueError, "decay"),
        (lambda: regularization.ExponentialMovingAverage(model, 0.9, buffers="mean"), ValueError, "buffers"),
        (lambda: regularization.ExponentialMovingAverage("net"), TypeError, "model"),
        (lambda: regularization.ExponentialMovingAverage(model).update(nn.Linear(3, 3)), ValueError, "other"),
        (lambda: regularization.EMAHook(0.99, every=5), ValueError, "together"),
        (lambda: regularization.EMAHook(0.99, data="digits", every=5), TypeError, "data"),
        (lambda: regularization.EMAHook(0.99, data=_split(), every=0), ValueError, "every"),
        (lambda: regularization.EMAHook(0.99).averaged, RuntimeError, "not watched"),
    ]:
        with pytest.raises(error, match=name):
            call()


def test_the_hook_keeps_the_average_through_fit_and_reports_its_test_metrics():
    split = _split()
    model = _bn_model()
    reference = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.99), use_buffers=True)
    hook = regularization.ema_callback(0.99, data=split, every=10)

    def both(network, step):
        reference.update_parameters(network)
        return hook(network, step)

    history = train.fit(model, split, lr=0.1, epochs=3, batch_size=32, on_step=both)
    assert hook.ema.updates == 30
    torch.testing.assert_close(hook.averaged.layers[0].weight, reference.module.layers[0].weight, rtol=0, atol=1e-6)
    assert len(history.extras["ema_test_loss"]) == 4  # steps 0, 10, 20, 30
    expected = train.evaluate(hook.averaged, split, "test")
    assert history.extras["ema_test_loss"][-1] == pytest.approx(expected["loss"], abs=1e-12)
    assert history.extras["ema_test_accuracy"][-1] == pytest.approx(expected["accuracy"], abs=1e-12)
    # a second run restarts the average from that run's initial weights
    second = models.MLP([64, 24, 10], "relu", norm="batch")
    train.fit(second, split, lr=0.1, epochs=1, batch_size=300, on_step=hook)
    assert hook.ema.updates == 1


def test_the_hook_keys_a_cached_run_and_finish_stores_the_average():
    split = _split()
    hook = regularization.EMAHook(0.9)
    spec = cache.RunSpec("ema-test", split, functools.partial(models.MLP, [64, 16, 10], "relu"), lr=0.1, epochs=2,
                         batch_size=50, on_step=hook, finish=hook.finish)
    run = cache.cached_run(spec)
    assert not run.from_cache
    for name, value in hook.averaged.state_dict().items():
        assert torch.equal(run.model.state_dict()[name], value)
    loaded = cache.cached_run(spec)
    assert loaded.from_cache and torch.equal(loaded.model.layers[0].weight, run.model.layers[0].weight)
    other = cache.RunSpec("ema-test", split, functools.partial(models.MLP, [64, 16, 10], "relu"), lr=0.1, epochs=2,
                          batch_size=50, on_step=regularization.EMAHook(0.99))
    assert other.describe() != spec.describe()  # the decay is in the key
    assert hook.describe() == {"decay": 0.9, "buffers": "average", "data": None, "every": None}
