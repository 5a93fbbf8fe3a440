"""The activations chapter: its runs against the training they replace (each network alone,
train.fit with the census hook), its fit curves against piecewise.locate_kinks, its figure and
widget, and its exercise checkers (right answers pass, wrong ones get a useful hint)."""

import matplotlib

matplotlib.use("Agg")

import math  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from lecturelib import data, models, params, piecewise  # noqa: E402
from lecturelib.exercises import activations as exercises  # noqa: E402
from lecturelib.experiments import activations as runs  # noqa: E402
from lecturelib.plotting import subplots  # noqa: E402
from lecturelib.plotting.fits import draw_fit  # noqa: E402
from lecturelib.train import History, fit  # noqa: E402
from lecturelib.widgets import activations as activation_widgets  # noqa: E402


def _classification_split():
    X, y = torch.randn(6, 1), torch.tensor([0, 1, 0, 1, 0, 1])
    return data.DataSplit(X, y, X, y, "tiny classification")


# ------------------------------------------------------------------------------- the runs

def test_kink_grid_trains_each_network_as_adam_alone_and_is_cached():
    split = data.regression_1d(n_train=12, n_test=5)
    networks, history = runs.train_kink_grid(split, activations=("leaky_relu", "tanh"), widths=(2, 4), epochs=30)
    assert list(networks) == [("leaky_relu", 2), ("leaky_relu", 4), ("tanh", 2), ("tanh", 4)]
    assert history.epoch == [0, 30] and len(history.train_loss[-1]) == 4
    for k, ((activation, width), net) in enumerate(networks.items()):
        torch.manual_seed(0)  # the reference: the same MLP built right after seeding, trained by Adam alone
        reference = models.MLP([1, width, width, width, 1, 1], activation=activation)
        optimizer = torch.optim.Adam(reference.parameters(), lr=0.01)
        for _ in range(30):
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(reference(split.X_train), split.y_train).backward()
            optimizer.step()
        for p, q in zip(net.parameters(), reference.parameters()):
            assert torch.allclose(p, q, rtol=0, atol=1e-6)
        with torch.no_grad():
            final = torch.nn.functional.mse_loss(reference(split.X_train), split.y_train).item()
        assert history.train_loss[-1][k] == pytest.approx(final, rel=1e-5)
    again, _ = runs.train_kink_grid(split, activations=("leaky_relu", "tanh"), widths=(2, 4), epochs=30)
    assert all(params.fingerprint(again[key]) == params.fingerprint(net) for key, net in networks.items())
    with pytest.raises(ValueError, match="1-D regression"):
        runs.train_kink_grid(_classification_split())
    with pytest.raises(ValueError, match="unknown activation"):
        runs.train_kink_grid(split, activations=("swish",))
    with pytest.raises(ValueError, match="widths"):
        runs.train_kink_grid(split, widths=(0,))


def _digits(n=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    X, y = torch.randn(n, 64, generator=g), torch.randint(0, 10, (n,), generator=g)
    return data.DataSplit(X[:40], y[:40], X[40:], y[40:], "toy digits")


def test_unit_census_counts_dead_and_silent_units():
    digits = _digits()
    torch.manual_seed(1)
    net = models.MLP([64, 8, 8, 10], "relu")
    with torch.no_grad():
        net.layers[0].bias[:3] = -100.0  # three first-layer units dead on every sample
    census = runs.unit_census(digits, net, 0)
    dead = piecewise.dead_units(net, digits.X_train)
    assert census["dead_first_layer"] == dead[0].tolist() and sum(census["dead_first_layer"]) >= 3
    assert census["dead"] == pytest.approx(sum(int(d.sum()) for d in dead) / 16)
    assert census["silent"] == census["dead"]  # for ReLU, silent on every sample is dead
    leaky = models.MLP([64, 8, 8, 10], "leaky_relu")
    with torch.no_grad():
        leaky.layers[0].bias[:3] = -100.0
    census = runs.unit_census(digits, leaky, 0)
    assert census["dead"] == 0 and census["silent"] >= 3 / 16


def test_dead_unit_run_is_train_fit_with_the_census():
    digits = _digits()
    run = runs.dead_unit_run(digits, "relu", 0.05)
    torch.manual_seed(0)
    reference = models.MLP(runs.CENSUS_WIDTHS, activation="relu")
    history = fit(reference, digits, optimizer="sgd", lr=0.05, epochs=20, batch_size=32, seed=0,
                  callback=lambda model, epoch: runs.unit_census(digits, model, epoch))
    assert params.fingerprint(run.model) == params.fingerprint(reference)
    assert run.history.extras == history.extras and len(history.extras["dead"]) == 21


def test_digits_network_run_is_the_seeded_sgd_run():
    digits = _digits()
    run = runs.digits_network_run(digits, seed=3)
    torch.manual_seed(3)
    reference = models.MLP(runs.DIGITS_WIDTHS, activation="relu")
    history = fit(reference, digits, optimizer="sgd", lr=0.1, momentum=0.9, epochs=30, batch_size=64, seed=3,
                  eval_every=30)
    assert params.fingerprint(run.model) == params.fingerprint(reference)
    assert run.history.train_loss == history.train_loss and run.history.epoch == [0, 30]


def test_convergence_speed_run_trains_each_member_as_sgd_alone():
    from lecturelib import init
    from lecturelib.train import fit

    digits = _digits()
    speed = runs.convergence_speed_run(digits, widths=[64, 8, 10], activations=("relu", "sigmoid"),
                                       rates=(0.1, 0.5), seeds=(0, 1), epochs=2, every=1)
    assert speed.members == [(a, r, s) for a in ("relu", "sigmoid") for r in (0.1, 0.5) for s in (0, 1)]
    batches = 2  # 40 training samples in batches of 32
    assert speed.epochs.tolist() == [step / batches for step in range(2 * batches + 1)]
    assert speed.train_error.shape == (2 * batches + 1, 8)
    one_hot = runs.one_hot_split(digits)
    assert one_hot.y_train.shape == (40, 10) and torch.equal(one_hot.y_train.argmax(1), digits.y_train)
    for k, (activation, rate, seed) in enumerate(speed.members):
        reference = init.initialize(models.MLP([64, 8, 10], activation), runs.SPEED_INIT, seed=seed)
        errors = []
        def record(model, step):
            with torch.no_grad():
                errors.append((model(digits.X_train).argmax(1) != digits.y_train).double().mean().item())
        fit(reference, one_hot, optimizer="sgd", lr=rate, momentum=0.9, epochs=2, batch_size=32, seed=0,
            on_step=record)
        assert speed.train_error[:, k].tolist() == pytest.approx(errors, abs=1e-12)
        member = speed.run.model.to_mlp(k)
        for p, q in zip(member.parameters(), reference.parameters()):
            assert torch.allclose(p, q, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="rates"):
        runs.convergence_speed_run(digits, rates=(0,))
    with pytest.raises(ValueError, match="classification"):
        runs.one_hot_split(data.regression_1d(n_train=5, n_test=5))


def test_epochs_to_error_and_fastest_rates():
    error = torch.tensor([[0.9, 0.9, 0.9], [0.3, 0.5, 0.9], [0.1, 0.2, 0.8]], dtype=torch.float64)
    members = [("relu", 0.1, 0), ("relu", 0.3, 0), ("tanh", 0.1, 0)]
    speed = runs.SpeedRuns(None, members, torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64), error)
    epochs = runs.epochs_to_error(speed, 0.25)
    assert epochs == {("relu", 0.1, 0): 1.0, ("relu", 0.3, 0): 1.0, ("tanh", 0.1, 0): float("inf")}
    assert runs.epochs_to_error(speed, 0.3)[("relu", 0.1, 0)] == 0.5
    fastest = runs.fastest_rates(epochs)
    assert fastest == {"relu": (0.1, [1.0]), "tanh": (0.1, [float("inf")])}  # a tie goes to the smaller rate
    with pytest.raises(ValueError, match="target"):
        runs.epochs_to_error(speed, 1.5)


def test_bias_census_run_starts_from_the_constant_bias():
    digits = _digits()
    model = runs.biased_mlp(runs.CENSUS_WIDTHS, "relu", 0.1)
    assert all(bool((layer.bias == 0.1).all()) for layer in model.layers[:-1])
    assert not bool((model.layers[-1].bias == 0.1).all())
    run = runs.bias_census_run(digits, 0.1, 0.05, seed=1)
    torch.manual_seed(1)
    reference = runs.biased_mlp(runs.CENSUS_WIDTHS, "relu", 0.1)
    history = fit(reference, digits, optimizer="sgd", lr=0.05, epochs=20, batch_size=32, seed=1,
                  callback=lambda m, epoch: runs.unit_census(digits, m, epoch))
    assert params.fingerprint(run.model) == params.fingerprint(reference)
    assert run.history.extras == history.extras
    with pytest.raises(ValueError, match="bias"):
        runs.bias_census_run(digits, float("nan"), 0.05, seed=0)


def test_prelu_run_records_the_learned_slopes():
    digits = _digits()
    run = runs.prelu_run(digits, seed=0)
    slopes = run.history.extras["slopes"]
    assert len(slopes) == 21 and [len(layer) for layer in slopes[0]] == [64, 64, 64]
    assert all(value == 0.25 for layer in slopes[0] for value in layer)  # He et al.'s initial slope
    final = [a.weight.detach().tolist() for a in run.model.activations]
    assert slopes[-1] == final and any(abs(v - 0.25) > 1e-4 for layer in final for v in layer)


def test_krizhevsky_cnn_has_four_layers_and_only_the_activation_differs():
    relu, tanh = runs.krizhevsky_cnn("relu"), runs.krizhevsky_cnn("tanh")
    weights = [m for m in relu.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(weights) == 4 and [m.out_channels for m in weights[:3]] == [32, 32, 64]
    # by hand: three 5x5 convolutions with biases, then 64 * 4 * 4 -> 10
    assert models.count_parameters(relu) == (25 * 3 * 32 + 32) + (25 * 32 * 32 + 32) + (25 * 32 * 64 + 64) + (1024 * 10 + 10)
    assert relu(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert [type(m).__name__ for m in tanh][1::3][:3] == ["Tanh"] * 3
    assert [type(a).__name__ for a, b in zip(relu, tanh) if type(a) is not type(b)] == ["ReLU"] * 3
    with pytest.raises(ValueError, match="input_shape"):
        runs.krizhevsky_cnn("relu", input_shape=(3, 30, 30))


def test_epochs_to_training_error_reads_the_first_epoch_below_the_target():
    history = History(epoch=[0, 1, 2, 3], train_loss=[0] * 4, test_loss=[0] * 4,
                      train_accuracy=[0.1, 0.6, 0.76, 0.9], test_accuracy=[0] * 4)
    assert runs.epochs_to_training_error(history, 0.25) == 2.0
    assert runs.epochs_to_training_error(history, 0.2) == 3.0 and runs.epochs_to_training_error(history, 0.05) == math.inf
    with pytest.raises(ValueError, match="training accuracy"):
        runs.epochs_to_training_error(History(epoch=[0], train_loss=[0], test_loss=[0]), 0.25)


# ------------------------------------------------------------------- curves, figure, widget

def _net(widths, activation, seed=0):
    torch.manual_seed(seed)
    return models.MLP(widths, activation=activation).eval()


def test_fit_curves_evaluate_the_network_and_locate_its_kinks():
    networks = {("leaky_relu", 4): _net([1, 4, 4, 1], "leaky_relu", seed=2), ("tanh", 4): _net([1, 4, 1], "tanh")}
    curves = runs.fit_curves(networks)
    leaky, tanh = curves["leaky_relu", 4], curves["tanh", 4]
    assert torch.equal(leaky.kinks, piecewise.locate_kinks(networks["leaky_relu", 4], -1.5, 1.5))
    assert len(tanh.kinks) == 0 and tanh.parameters == models.count_parameters(networks["tanh", 4])
    with torch.no_grad():
        expected = networks["tanh", 4](leaky.grid).double()
    assert leaky.grid.shape == (1001, 1) and torch.equal(tanh.outputs, expected)
    with pytest.raises(TypeError, match="MLP"):
        runs.fit_curves({("x", 1): torch.nn.Linear(1, 1)})


def test_draw_fit_marks_the_kinks_it_is_handed():
    curve = runs.fit_curves({("leaky_relu", 4): _net([1, 4, 4, 1], "leaky_relu", seed=2)})["leaky_relu", 4]
    split = data.regression_1d(n_train=10, n_test=5)
    _, ax = subplots()
    draw_fit(ax, curve.grid, curve.outputs, split, kinks=curve.kinks, legend=True)
    assert len(ax.lines) == len(curve.kinks) + 1 and ax.get_legend() is not None
    _, ax = subplots()
    draw_fit(ax, curve.grid, torch.stack([curve.outputs, curve.outputs]), split)
    assert len(ax.lines) == 2 and ax.get_legend() is None
    with pytest.raises(ValueError, match="outputs must have shape"):
        draw_fit(ax, curve.grid, curve.outputs[:10], split)


def test_kink_explorer_redraws_what_it_is_handed():
    networks = {(name, width): _net([1, width, width, 1], name, seed=width)
                for name in ("leaky_relu", "tanh", "identity") for width in (2, 5)}
    box = activation_widgets.kink_explorer(runs.fit_curves(networks), data.regression_1d(n_train=10, n_test=5))
    dropdown = next(c for c in box.children[-2].children if c.description == "activation")
    dropdown.value = "tanh"  # redraws without training or evaluating anything
    assert activation_widgets._title(runs.fit_curves({("tanh", 5): networks["tanh", 5]})["tanh", 5]) == \
        "tanh, 46 parameters: smooth, no kinks"
    with pytest.raises(ValueError, match="curves"):
        activation_widgets.kink_explorer({}, data.regression_1d())


# ---------------------------------------------------------------------------- the checkers


def test_elu_derivative_checker():
    right = exercises.check_elu_derivative(lambda u, a: torch.where(u > 0, torch.ones_like(u), a * torch.exp(u)))
    assert right.passed and repr(right).startswith("Correct")
    forgot_alpha = exercises.check_elu_derivative(lambda u, a: torch.where(u > 0, torch.ones_like(u), torch.exp(u)))
    assert not forgot_alpha.passed and "alpha=0.5" in forgot_alpha.message and "exp(u)" in forgot_alpha.message
    assert repr(forgot_alpha).startswith("Not yet")
    crashing = exercises.check_elu_derivative(lambda u, a: u.nonexistent())
    assert not crashing.passed and "AttributeError" in crashing.message
    returns_none = exercises.check_elu_derivative(lambda u, a: None)
    assert not returns_none.passed and "return" in returns_none.message


def _collapse(model, reverse=False):
    W = torch.eye(model.widths[0], dtype=torch.float64)
    b = torch.zeros(model.widths[0], dtype=torch.float64)
    for layer in model.layers:
        A, c = layer.weight.double(), layer.bias.double()
        W, b = A @ W, A @ b + c
    return W, b


def test_collapse_checker():
    assert exercises.check_collapse(_collapse).passed
    def forgot_biases(model):
        W, b = _collapse(model)
        return W, torch.zeros_like(b)
    result = exercises.check_collapse(forgot_biases)
    assert not result.passed and "b = b_n" in result.message
    def transposed(model):
        W, b = _collapse(model)
        return W.T, b
    result = exercises.check_collapse(transposed)
    assert not result.passed and "shape" in result.message
    result = exercises.check_collapse(lambda model: _collapse(model)[0])
    assert not result.passed and "pair" in result.message


def test_collapse_checker_leaves_the_random_stream_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    exercises.check_collapse(_collapse)
    assert torch.equal(torch.rand(3), expected)


def test_parameter_count_checker():
    right = exercises.check_parameter_count(lambda w: sum((a + 1) * b for a, b in zip(w[:-1], w[1:])))
    assert right.passed and "78" in right.message
    weights_only = exercises.check_parameter_count(lambda w: sum(a * b for a, b in zip(w[:-1], w[1:])))
    assert not weights_only.passed and "bias" in weights_only.message and "78" in weights_only.message
    no_output = exercises.check_parameter_count(lambda w: sum((a + 1) * b for a, b in zip(w[:-2], w[1:-1])))
    assert not no_output.passed and "output" in no_output.message
    as_tensor = exercises.check_parameter_count(lambda w: torch.tensor(sum((a + 1) * b for a, b in zip(w[:-1], w[1:]))))
    assert as_tensor.passed
    assert not exercises.check_parameter_count(lambda w: 1 / 0).passed


@pytest.mark.parametrize("checker", [exercises.check_elu_derivative, exercises.check_collapse,
                                     exercises.check_parameter_count])
def test_checkers_reject_non_functions(checker):
    with pytest.raises(TypeError, match="function"):
        checker(42)
