"""The batch-normalisation chapter: its runs (lecturelib.experiments.batchnorm) against numpy
percentiles, hand-made histories, a replay with lecturelib.train.fit and BatchNorm's running averages;
its widget; its exercise checker against lecturelib.norm.batch_norm_backward."""

import matplotlib

matplotlib.use("Agg")

from functools import partial  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lecturelib import data, norm, optim, smoothness, train  # noqa: E402
from lecturelib.experiments import batchnorm as experiments  # noqa: E402
from lecturelib.train import History  # noqa: E402


# ------------------------------------------------------------------ the network and its callback

def test_ioffe_mlp_and_unit_input_percentiles():
    # the reference: numpy's percentiles of the pre-activation forward_with_states reports, in eval mode
    plain = experiments.ioffe_mlp(8, 3, batch_norm=False, seed=4)
    with_bn = experiments.ioffe_mlp(8, 3, batch_norm=True, seed=4)
    assert plain.widths == [8, 100, 100, 100, 3] and isinstance(with_bn.norms[0], norm.BatchNorm)
    torch.testing.assert_close(plain.layers[1].weight, with_bn.layers[1].weight)
    assert plain.layers[1].weight.std().item() == pytest.approx(2.0 / 10, rel=0.05)
    assert all(float(layer.bias.detach().abs().max()) == 0.0 for layer in plain.layers)
    X = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    values = experiments.UnitInputPercentiles(X, layer=-1, unit=2)(with_bn.train(), 0)
    assert with_bn.training and int(with_bn.norms[2].num_batches_tracked) == 0
    with torch.no_grad():
        pre = with_bn.eval().forward_with_states(X)["pre"][-1][:, 2]
    expected = np.percentile(pre.double().numpy(), [15, 50, 85])
    np.testing.assert_allclose([values["p15"], values["p50"], values["p85"]], expected, rtol=1e-6)


def test_ioffe_mlp_takes_another_normalisation_from_the_same_weights():
    model = experiments.ioffe_mlp(8, 3, batch_norm=False, seed=4, norm_layer=norm.group_norm(4))
    assert all(isinstance(layer, norm.GroupNorm) and layer.num_groups == 4 for layer in model.norms)
    torch.testing.assert_close(model.layers[0].weight,
                               experiments.ioffe_mlp(8, 3, batch_norm=False, seed=4).layers[0].weight)
    with pytest.raises(ValueError, match="norm_layer"):
        experiments.ioffe_mlp(8, 3, batch_norm=True, norm_layer=norm.LayerNorm)
    with pytest.raises(TypeError, match="batch_norm"):
        experiments.ioffe_mlp(8, 3, batch_norm="yes")


def test_unit_input_percentiles_describe_themselves_for_the_cache_key():
    X = torch.zeros(4, 3)
    probe = experiments.UnitInputPercentiles(X, layer=1, unit=2, q=(10, 90))
    assert probe.describe() == {"X_probe": X, "layer": 1, "unit": 2, "q": [10, 90]}


def test_steps_to_accuracy():
    history = History(epoch=[0, 1, 2, 3], test_accuracy=[0.1, 0.5, 0.92, 0.95])
    assert experiments.steps_to_accuracy(history, 0.9, steps_per_epoch=10) == 20
    assert experiments.steps_to_accuracy(history, 0.99, steps_per_epoch=10) is None
    with pytest.raises(ValueError, match="target"):
        experiments.steps_to_accuracy(history, 90, steps_per_epoch=10)
    with pytest.raises(TypeError, match="history"):
        experiments.steps_to_accuracy({"epoch": [0]}, 0.9, steps_per_epoch=10)


# ------------------------------------------------------------------ the cached runs

def test_run_ioffe_experiment_is_cached_and_equals_a_plain_fit():
    # the reference: lecturelib.train.fit of the same network with the same callback
    split = data.toy_2d("blobs", n_samples=60, seed=0)
    first = experiments.run_ioffe_experiment(split, batch_norm=True, lr=0.5, epochs=2, batch_size=10)
    second = experiments.run_ioffe_experiment(split, batch_norm=True, lr=0.5, epochs=2, batch_size=10)
    assert not first.from_cache and second.from_cache
    assert first.history.extras["p50"] == second.history.extras["p50"] and len(first.history.extras["p15"]) == 3
    assert all(a <= b <= c for a, b, c in zip(*(first.history.extras[k] for k in ("p15", "p50", "p85"))))
    model = experiments.ioffe_mlp(2, 3, batch_norm=True, seed=0)
    history = train.fit(model, split, lr=0.5, epochs=2, batch_size=10, seed=0, device="cpu",
                        callback=experiments.UnitInputPercentiles(split.X_test))
    assert history.test_loss == first.history.test_loss and history.extras == first.history.extras
    for ours, reference in zip(second.model.state_dict().values(), model.state_dict().values()):
        torch.testing.assert_close(ours, reference, rtol=0, atol=0)


def test_warmup_linear_decay_is_the_written_out_formula_and_drives_fit():
    # the reference: min(1, (t+1)/warmup) * max(0, 1 - t/total) by hand, and torch's LambdaLR on the same steps
    schedule = optim.WarmupLinearDecay(warmup=4, total=10)
    assert [schedule(t) for t in (0, 1, 3, 5, 10, 12)] == pytest.approx([0.25, 0.45, 0.7, 0.5, 0.0, 0.0])
    assert schedule.describe() == {"warmup": 4, "total": 10}
    split = data.toy_2d("blobs", n_samples=60, seed=0)  # 30 training points: 3 minibatches of 10
    model = experiments.ioffe_mlp(2, 3, batch_norm=True, seed=1, activation="relu")
    reference = experiments.ioffe_mlp(2, 3, batch_norm=True, seed=1, activation="relu")
    assert isinstance(model.activations[0], torch.nn.ReLU)
    train.fit(model, split, lr=0.3, epochs=2, batch_size=10, seed=0, device="cpu", schedule=schedule)
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    generator = torch.Generator().manual_seed(0)
    reference.train()
    for _ in range(2):
        order = torch.randperm(len(split.X_train), generator=generator)
        for start in range(0, len(order), 10):
            index = order[start:start + 10]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(reference(split.X_train[index]), split.y_train[index]).backward()
            optimizer.step()
            scheduler.step()
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_run_ioffe_experiment_passes_activation_initialisation_schedule_and_normalisation():
    # the reference: train.fit of ioffe_mlp built with the same settings
    split = data.toy_2d("blobs", n_samples=60, seed=0)
    schedule = optim.WarmupLinearDecay(warmup=3, total=12)
    layer = partial(norm.BatchRenorm, rmax=2.0, dmax=1.0)
    run = experiments.run_ioffe_experiment(split, batch_norm=False, lr=0.2, epochs=2, batch_size=10, seed=1,
                                           activation="relu", init_std=1.5, schedule=schedule, norm_layer=layer)
    assert isinstance(run.model.norms[0], norm.BatchRenorm) and run.model.norms[0].rmax == 2.0
    model = experiments.ioffe_mlp(2, 3, batch_norm=False, seed=1, activation="relu", init_std=1.5, norm_layer=layer)
    history = train.fit(model, split, lr=0.2, epochs=2, batch_size=10, seed=1, device="cpu", schedule=schedule,
                        callback=experiments.UnitInputPercentiles(split.X_test))
    assert history.test_loss == run.history.test_loss
    other = experiments.run_ioffe_experiment(split, batch_norm=False, lr=0.2, epochs=2, batch_size=10, seed=1,
                                             activation="relu", init_std=1.5, norm_layer=layer)
    assert not other.from_cache and other.history.test_loss != run.history.test_loss  # the schedule is in the key


def test_seed_table_and_its_text():
    fast = [History(epoch=[0, 1, 2], test_accuracy=[0.1, 0.95, 0.97]), History(epoch=[0, 1, 2], test_accuracy=[0.1, 0.5, 0.96])]
    slow = [History(epoch=[0, 1, 2], test_accuracy=[0.1, 0.2, 0.3])] * 2
    table = experiments.seed_table({"fast": fast, "slow": slow}, 0.9, steps_per_epoch=10)
    assert table == {"fast": {"steps": [10, 20], "best": [0.97, 0.96]}, "slow": {"steps": [None, None], "best": [0.3, 0.3]}}
    text = experiments.format_seed_table(table, {"fast": 0.5, "slow": 1.0}).splitlines()
    assert "15 ± 7" in text[1] and "10, 20" in text[1] and "0.965 ± 0.007" in text[1]
    assert "never" in text[2] and "0.300 ± 0.000" in text[2]
    assert experiments.mean_spread([2.0]) == (2.0, 0.0)
    assert experiments.mean_spread([1, 2, 3]) == pytest.approx((2.0, 1.0))
    with pytest.raises(ValueError, match="values"):
        experiments.mean_spread([1.0, float("nan")])
    with pytest.raises(TypeError, match="histories"):
        experiments.seed_table({"a": []}, 0.9, 10)


def test_batch_statistics_accuracy_uses_each_small_batch_and_restores_the_model():
    # the reference: the batch-norm network in training mode on each batch of 4, written out
    model = experiments.ioffe_mlp(5, 3, batch_norm=True, seed=2)
    with torch.no_grad():
        model.norms[0].running_mean.fill_(0.3)
    X = torch.randn(18, 5, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 3, (18,), generator=torch.Generator().manual_seed(1))
    model.eval()
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    accuracy = experiments.batch_statistics_accuracy(model, X, y, batch_size=4)
    assert not model.training
    for name, b in model.named_buffers():
        assert torch.equal(b, buffers[name])
    correct = 0
    for start in range(0, 16, 4):
        reference = experiments.ioffe_mlp(5, 3, batch_norm=True, seed=2).train()
        with torch.no_grad():
            correct += int((reference(X[start:start + 4]).argmax(1) == y[start:start + 4]).sum())
    assert accuracy == correct / 16
    with pytest.raises(ValueError, match="batch_size"):
        experiments.batch_statistics_accuracy(model, X, y, batch_size=1)
    with pytest.raises(ValueError, match="y"):
        experiments.batch_statistics_accuracy(model, X, y[:5], batch_size=4)


def test_smoothness_run_measures_along_a_plain_fit_without_changing_it():
    # the reference: gradient_step_profile on the probe's minibatch of a model trained to that step by fit
    split = data.toy_2d("blobs", n_samples=120, seed=0)
    step_sizes = [0.1, 0.4]
    record = experiments.smoothness_run(split, batch_norm=True, step_sizes=step_sizes, lr=0.2, steps=7,
                                        measure_every=3, batch_size=20)
    assert list(record["step"]) == [0, 3, 6] and record["loss"].shape == (3, 2)
    assert np.all(record["loss_min"] <= record["loss_max"]) and np.all(record["effective_beta"] > 0)
    again = experiments.smoothness_run(split, batch_norm=True, step_sizes=step_sizes, lr=0.2, steps=7,
                                       measure_every=3, batch_size=20)
    assert all(np.array_equal(record[key], again[key]) for key in record)
    probe = smoothness.GradientStepProbe(split.X_train, split.y_train, step_sizes, every=3, batch_size=20)
    model = experiments.ioffe_mlp(2, 3, batch_norm=True, seed=0)
    train.fit(model, split, lr=0.2, epochs=2, batch_size=20, seed=0, max_steps=6, device="cpu")
    expected = smoothness.gradient_step_profile(model, *probe.minibatch(6), step_sizes)
    np.testing.assert_allclose(record["loss"][-1], expected["loss"], rtol=1e-12)
    np.testing.assert_allclose(record["grad_change"][-1], expected["grad_change"], rtol=1e-12)
    assert record["train_loss"][-1] == pytest.approx(expected["loss0"], rel=1e-12)


# ------------------------------------------------------------------ running statistics and the widget

def test_running_statistics_trace_converges():
    # the reference: the population mean and variance of the features
    features = 2.0 + 3.0 * torch.randn(500, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    trace = experiments.running_statistics_trace(features, batch_size=100, momentum=0.1, steps=150)
    assert abs(trace["running_mean"][-1] - trace["mean"]) < 0.3
    assert abs(trace["running_var"][-1] / trace["var"] - 1) < 0.15
    assert trace["mean"] == pytest.approx(float(features[:, 0].mean()))
    with pytest.raises(ValueError, match="batch_size"):
        experiments.running_statistics_trace(features, batch_size=1, momentum=0.1)
    with pytest.raises(TypeError, match="seed"):
        experiments.running_statistics_trace(torch.randn(20, 2), batch_size=4, momentum=0.1, steps=2, seed="x")


def test_running_statistics_follow_the_momentum_recursion():
    # the reference: mu <- (1 - rho) mu + rho mu_B written out over the same minibatches
    features = torch.randn(40, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    trace = experiments.running_statistics_trace(features, batch_size=8, momentum=0.3, steps=5, seed=2)
    running = 0.0
    for batch_mean, recorded in zip(trace["batch_mean"], trace["running_mean"]):
        running = 0.7 * running + 0.3 * batch_mean
        assert recorded == pytest.approx(running, rel=1e-12, abs=1e-15)


def test_running_statistics_traces_cover_the_grid_and_the_widget_draws_them():
    features = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    traces = experiments.running_statistics_traces(features, batch_sizes=(2, 8, 128), momenta=(0.1, 1.0), steps=5)
    assert set(traces) == {(2, 0.1), (2, 1.0), (8, 0.1), (8, 1.0)}  # 128 > 64 rows is left out
    assert traces[(8, 0.1)] == experiments.running_statistics_trace(features, 8, 0.1, steps=5)
    from lecturelib.widgets.batchnorm import running_statistics_widget

    box = running_statistics_widget(traces)
    sliders = box.children[1].children
    assert [s.value for s in sliders] == [8, 0.1]
    sliders[0].value = 2  # redraws without error
    with pytest.raises(ValueError, match="every pair"):
        running_statistics_widget({(2, 0.1): traces[(2, 0.1)], (8, 1.0): traces[(8, 1.0)]})
    with pytest.raises(TypeError, match="traces"):
        running_statistics_widget([])


# ------------------------------------------------------------------ the exercise

def test_exercise_checker_accepts_reference_and_rejects_mistakes():
    from lecturelib.exercises import batchnorm as checker

    assert checker.check_batch_norm_backward(checker.reference_batch_norm_backward).passed

    def forgets_mean_terms(grad_y, x, gamma, eps):  # treats mu and sigma as constants
        grad_x, grad_gamma, grad_beta = checker.reference_batch_norm_backward(grad_y, x, gamma, eps)
        return gamma / torch.sqrt(x.var(0, unbiased=False) + eps) * grad_y, grad_gamma, grad_beta

    result = checker.check_batch_norm_backward(forgets_mean_terms)
    assert not result.passed and "grad_x" in result.message
    assert not checker.check_batch_norm_backward(lambda *a: None).passed
    raised = checker.check_batch_norm_backward(lambda *a: 1 / 0)
    assert not raised.passed and "ZeroDivisionError" in raised.message and "test case 1" in raised.message
    with pytest.raises(TypeError, match="backward"):
        checker.check_batch_norm_backward(3)


# ------------------------------------------------------------------ bad input gets a clear error

@pytest.mark.parametrize("call, error, name", [
    (lambda: experiments.ioffe_mlp(8, 3, batch_norm=False, init_std=float("nan")), ValueError, "init_std"),
    (lambda: experiments.UnitInputPercentiles(torch.zeros(4, 3), q=(float("nan"),)), ValueError, "q"),
    (lambda: experiments.UnitInputPercentiles(torch.zeros(4, 3), q=()), ValueError, "q"),
    (lambda: experiments.ioffe_mlp(8, 3, batch_norm=False, seed="x"), TypeError, "seed"),
    (lambda: experiments.UnitInputPercentiles(torch.zeros(4, 3), layer=0.5), TypeError, "layer"),
    (lambda: experiments.UnitInputPercentiles(torch.zeros(4), unit=0), ValueError, "X_probe"),
    (lambda: experiments.run_ioffe_experiment((1, 2), True, 0.5, 2), TypeError, "split"),
    (lambda: experiments.ioffe_mlp(8, 3, batch_norm=False, activation="tanh"), ValueError, "activation"),
    (lambda: optim.WarmupLinearDecay(warmup=0, total=10), ValueError, "warmup"),
    (lambda: optim.WarmupLinearDecay(warmup=2, total=1.5), TypeError, "total"),
    (lambda: experiments.smoothness_run(data.toy_2d("blobs", n_samples=40), True, [0.1], batch_size=1000),
     ValueError, "batch_size"),
])
def test_bad_arguments_are_named(call, error, name):
    with pytest.raises(error, match=name):
        call()
