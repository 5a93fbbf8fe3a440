"""The initialisation chapter: its run (lecturelib.experiments.initialisation) against a replay with
lecturelib.train.fit and direct statistics of the replayed model; its per-layer figures
(lecturelib.plotting.layers) and widget; its exercise checker against a forward loop written out."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lecturelib import data, init, models, train  # noqa: E402
from lecturelib.experiments import initialisation as experiments  # noqa: E402
from lecturelib.plotting.layers import plot_layer_histograms, plot_layer_trajectories  # noqa: E402


def _split():
    return data.toy_2d("blobs", n_samples=90, seed=0)


# ------------------------------------------------------------------ the probe and the run

def test_layer_statistics_probe_records_what_the_model_shows_at_each_recorded_step():
    # the reference: hidden_layer_statistics and the test error of the same net trained by fit to that step
    split = _split()
    probe = experiments.LayerStatisticsProbe(split.X_test[:20], split.X_test, split.y_test, every=9, last=25)

    def build():
        return experiments.initialised_mlp([2, 8, 8, 3], "sigmoid", "standard", seed=1)

    history = train.fit(build(), split, lr=0.5, epochs=3, batch_size=5, seed=0, max_steps=25, on_step=probe,
                        device="cpu")
    assert history.extras["step"] == [0, 9, 18, 25] and history.steps == 25
    for index, step in enumerate(history.extras["step"]):
        model = build()
        if step:
            train.fit(model, split, lr=0.5, epochs=3, batch_size=5, seed=0, max_steps=step, device="cpu")
        stats = init.hidden_layer_statistics(model, split.X_test[:20])
        assert history.extras["mean"][index] == stats["mean"] and history.extras["std"][index] == stats["std"]
        error = 1 - train.evaluate(model, split)["accuracy"]
        assert history.extras["test_error"][index] == pytest.approx(error, abs=1e-12)


def test_layer_statistics_probe_leaves_training_unchanged_and_describes_itself():
    split = _split()
    probe = experiments.LayerStatisticsProbe(split.X_test[:20], split.X_test, split.y_test, every=4)
    a = experiments.initialised_mlp([2, 8, 3], "tanh", "xavier_normal", seed=0)
    b = experiments.initialised_mlp([2, 8, 3], "tanh", "xavier_normal", seed=0)
    train.fit(a, split, lr=0.5, epochs=2, batch_size=5, on_step=probe, device="cpu")
    train.fit(b, split, lr=0.5, epochs=2, batch_size=5, device="cpu")
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert probe.describe()["every"] == 4 and probe.describe()["last"] is None
    assert probe(a, 3) is None and probe(a, 8)["step"] == 8


def test_initialised_mlp_is_initialize_of_an_mlp():
    model = experiments.initialised_mlp([2, 8, 3], "relu", "he_normal", seed=3)
    reference = init.initialize(models.MLP([2, 8, 3], activation="relu"), "he_normal", seed=3)
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_saturation_run_is_cached_and_equals_its_replay():
    # the reference: the probe's records of a plain fit with the same network, data and minibatch order
    split = _split()
    first = experiments.saturation_run(split, "sigmoid", "standard", lr=0.5, steps=27, depth=2, width=8,
                                       batch_size=5, record_every=9, probe_size=20)
    second = experiments.saturation_run(split, "sigmoid", "standard", lr=0.5, steps=27, depth=2, width=8,
                                        batch_size=5, record_every=9, probe_size=20)
    assert first == second and first["step"] == [0, 9, 18, 27] and len(first["mean"][0]) == 2
    model = experiments.initialised_mlp([2, 8, 8, 3], "sigmoid", "standard", seed=0)
    probe = experiments.LayerStatisticsProbe(split.X_test[:20], split.X_test, split.y_test, every=9, last=27)
    history = train.fit(model, split, lr=0.5, epochs=10, batch_size=5, max_steps=27, on_step=probe, device="cpu")
    assert {key: history.extras[key] for key in first if key != "final_train_loss"} == \
        {key: value for key, value in first.items() if key != "final_train_loss"}
    assert first["final_train_loss"] == history.train_loss[-1]
    with pytest.raises(ValueError, match="classification"):
        experiments.saturation_run(data.regression_1d(), "tanh", "standard", lr=0.1, steps=3)


def test_test_error_runs_stack_the_runs_and_their_final_training_loss():
    """The reference for the final training loss: the same net trained by train.fit, then
    F.cross_entropy on the whole training set."""
    split = _split()
    members = experiments.grid_members((("sigmoid", "standard"), ("tanh", "xavier_uniform")), (0.05, 0.5))
    assert members == (("sigmoid", "standard", 0.05), ("sigmoid", "standard", 0.5),
                       ("tanh", "xavier_uniform", 0.05), ("tanh", "xavier_uniform", 0.5))
    runs = experiments.test_error_runs(split, members, seeds=(0, 4), steps=27, depth=2, width=8, batch_size=5,
                                       record_every=9, probe_size=20)
    assert runs.test_error.shape == (2, 4, 4) and runs.mean.shape == (2, 4, 4, 2) and runs.final_train_loss.shape == (2, 4)
    assert runs.steps.tolist() == [0, 9, 18, 27]
    for seed in (0, 4):
        for activation, scheme, lr in members:
            single = experiments.saturation_run(split, activation, scheme, lr=lr, steps=27, depth=2, width=8,
                                                batch_size=5, record_every=9, probe_size=20, seed=seed)
            assert runs.track(activation, scheme, lr, seed) == {key: single[key] for key in ("step", "mean", "std",
                                                                                           "test_error")}
            model = experiments.initialised_mlp([2, 8, 8, 3], activation, scheme, seed=seed)
            train.fit(model, split, lr=lr, epochs=10, batch_size=5, max_steps=27, seed=seed, device="cpu")
            with torch.no_grad():
                expected = torch.nn.functional.cross_entropy(model(split.X_train), split.y_train)
            k = runs.index(activation, scheme, lr)
            assert runs.final_train_loss[(0, 4).index(seed), k].item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match="members"):
        experiments.test_error_runs(split, (("tanh", "standard"),), steps=3)
    with pytest.raises(ValueError, match="seeds"):
        experiments.test_error_runs(split, members, seeds=(), steps=3)
    with pytest.raises(ValueError, match="rates"):
        experiments.grid_members(rates=(0.1, -1.0))


def test_best_rate_is_the_lowest_mean_training_loss_and_skips_divergence():
    members = (("tanh", "standard", 0.1), ("tanh", "standard", 0.3), ("tanh", "standard", 1.0),
               ("sigmoid", "standard", 0.1))
    losses = torch.tensor([[1.0, 0.5, 0.1, 2.0], [1.0, 0.7, float("nan"), 2.0], [1.0, 0.6, 0.1, 2.0]],
                          dtype=torch.float64)  # (seeds, members): 1.0 is best on average but diverges once
    empty = torch.zeros(3, 4, 1, dtype=torch.float64)
    runs = experiments.TestErrorRuns(members, (0, 1, 2), torch.tensor([0]), empty, losses, empty[..., None], empty[..., None])
    assert runs.rates("tanh", "standard") == [0.1, 0.3, 1.0]
    assert runs.best_rate("tanh", "standard") == 0.3 and runs.best_rate("sigmoid", "standard") == 0.1


# ------------------------------------------------------------------ figures and the widget

def test_plot_layer_histograms_draws_one_normalised_histogram_per_layer():
    X = torch.randn(200, 6, generator=torch.Generator().manual_seed(0))
    records = init.activation_statistics(X, 3, 6, "tanh", "xavier_normal", keep_values=True)
    fig, axes = plt.subplots(1, 4)
    drawn = plot_layer_histograms(axes, records, bins=10)
    assert len(drawn) == 4 and all(len(ax.patches) == 10 for ax in drawn[:3]) and not drawn[3].patches
    heights = np.array([patch.get_height() for patch in drawn[0].patches])
    assert np.sum(heights * 0.2) == pytest.approx(1.0)  # density over (-1, 1) in bins of 0.2
    assert drawn[1].get_title().startswith("layer 2")
    gradients = plot_layer_histograms(axes[:3], records, values="gradients", show_stats=False)
    assert gradients[0].patches[-1].get_x() + gradients[0].patches[-1].get_width() == pytest.approx(
        4 * max(r.grad_std for r in records))
    plt.close(fig)
    with pytest.raises(ValueError, match="one axis per layer"):
        plot_layer_histograms(axes[:2], records)
    with pytest.raises(ValueError, match="keep_values"):
        plot_layer_histograms(axes, init.activation_statistics(X, 3, 6, "tanh", "xavier_normal"))
    with pytest.raises(ValueError, match="values must be one of"):
        plot_layer_histograms(axes, records, values="weights")


def test_plot_layer_trajectories_draws_a_line_and_a_band_per_layer():
    fig, ax = plt.subplots()
    plot_layer_trajectories(ax, [0, 10, 20], [[0.1, 0.5], [0.2, 0.5], [0.3, 0.4]], [[0.1, 0.1]] * 3, title="t")
    assert len(ax.lines) == 2 and len(ax.collections) == 2 and ax.get_title() == "t"
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [0.5, 0.5, 0.4])
    with pytest.raises(ValueError, match="means and stds"):
        plot_layer_trajectories(ax, [0, 10], [[0.1], [0.2], [0.3]], [[0.1]] * 3)
    plt.close(fig)


def test_activation_histogram_widget_builds_and_redraws():
    from lecturelib.widgets.initialisation import activation_histogram_widget

    box = activation_histogram_widget(n_samples=20, width=10)
    scale, activation, depth = box.children[1].children
    depth.value, activation.value = 2, "relu"  # each change redraws without error
    with pytest.raises(TypeError, match="seed"):
        activation_histogram_widget(seed=0.5)


# ------------------------------------------------------------------ the exercise

def test_exercise_checker_accepts_the_answer_and_explains_mistakes():
    from lecturelib.exercises import initialisation as ex

    def right(X, weights, activation):
        act = models.get_activation(activation).function
        h, out = X, []
        for W in weights:
            h = act(h @ W.T)
            out.append(h.std(unbiased=False))
        return torch.stack(out)

    def unbiased(X, weights, activation):
        act = models.get_activation(activation).function
        h, out = X, []
        for W in weights:
            h = act(h @ W.T)
            out.append(h.std())
        return torch.stack(out)

    assert ex.check_layer_stds(right).passed
    verdict = ex.check_layer_stds(unbiased)
    assert not verdict.passed and "unbiased" in verdict.message
    assert not ex.check_layer_stds(lambda X, w, a: None).passed
    with pytest.raises(TypeError, match="must be a function"):
        ex.check_layer_stds(3)
    raised = ex.check_layer_stds(lambda X, w, a: 1 / 0)
    assert not raised.passed and "ZeroDivisionError" in raised.message
