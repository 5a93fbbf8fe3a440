"""The residual-networks chapter: its depth run against the stack it builds (each member seeded as
MLP, blocks scaled) and fit_stacked called directly, its summary, fits and widget, and its
checkers (models.surgery.embed_residual itself is tested in tests/test_models_surgery.py)."""

import math

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from lecturelib import data, models, params  # noqa: E402
from lecturelib.exercises import residual as exercises  # noqa: E402
from lecturelib.experiments import residual as runs  # noqa: E402
from lecturelib.models import StackedMLP, embed_residual  # noqa: E402
from lecturelib.train import History, fit_stacked  # noqa: E402
from lecturelib.widgets import residual as residual_widgets  # noqa: E402


def _split():
    return data.regression_1d(n_train=10, n_test=6)


# ------------------------------------------------------------------------------- the run

def test_depth_runs_and_the_stack_they_build():
    members = runs.depth_runs((2, 4), seeds=2)
    assert members == [(2, "plain", 0), (2, "plain", 1), (4, "plain", 0), (4, "plain", 1), (2, "residual", 0),
                       (2, "residual", 1), (4, "residual", 0), (4, "residual", 1), (4, "unscaled", 0),
                       (4, "unscaled", 1)]
    stack = runs.depth_stack(members)
    for m, (k, label, seed) in enumerate(members):
        torch.manual_seed(seed)
        reference = models.MLP([1] + [5] * k + [1, 1], "leaky_relu", residual=label != "plain")
        factor = 1 / math.sqrt(k - 1) if label == "residual" else 1.0
        for j, (mine, theirs) in enumerate(zip(stack.to_mlp(m).layers, reference.layers)):
            scale = factor if 1 <= j < k else 1.0
            torch.testing.assert_close(mine.weight, scale * theirs.weight, rtol=1e-6, atol=0)


def test_depth_experiment_is_fit_stacked_on_that_stack_and_is_cached():
    split = _split()
    experiment = runs.depth_experiment(split, epochs=20, hidden_counts=(2, 4), seeds=2)
    stack = runs.depth_stack(experiment.runs)
    initial = stack.first_layer_gradient_norm(split.X_train, split.y_train)
    history = fit_stacked(stack, split, "adam", lr=1e-2, epochs=20, eval_every=10, computation="written")
    assert torch.equal(experiment.initial_gradient, initial)
    assert params.fingerprint(experiment.stack) == params.fingerprint(stack)
    assert experiment.history.train_loss == history.train_loss and experiment.history.epoch == [0, 10, 20]
    assert experiment.members(4, "residual") == [6, 7] and experiment.labels[-1] == "unscaled"
    again = runs.depth_experiment(split, epochs=20, hidden_counts=(2, 4), seeds=2)
    assert again.history.train_loss == history.train_loss and not again.stack.training


def test_final_loss_summary_groups_by_label_and_widths():
    stack = StackedMLP.from_seeds([[1, 5, 5, 1, 1]] * 3 + [[1, 5, 5, 5, 1, 1]], residual=True, seeds=[0, 1, 2, 3])
    history = History(epoch=[0, 1], train_loss=[[1.0] * 4, [0.3, 0.1, 0.2, 0.4]], test_loss=[[1.0] * 4] * 2)
    rows = runs.final_loss_summary(stack, history, ["a", "a", "b", "a"])
    assert [(r["label"], r["depth"], r["members"]) for r in rows] == [("a", 4, [0, 1]), ("b", 4, [2]), ("a", 5, [3])]
    assert rows[0]["median"] == pytest.approx(0.2) and rows[0]["min"] == pytest.approx(0.1)
    assert rows[0]["widths"] == [1, 5, 5, 1, 1] and rows[0]["parameters"] == 48
    assert [r["label"] for r in runs.final_loss_summary(stack, history)] == ["residual", "residual"]
    with pytest.raises(ValueError, match="labels"):
        runs.final_loss_summary(stack, history, ["a"])
    with pytest.raises(ValueError, match="history"):
        runs.final_loss_summary(stack, History(epoch=[0], train_loss=[[1.0]], test_loss=[[1.0]]))


def test_depth_fits_and_the_explorer():
    split = _split()
    experiment = runs.depth_experiment(split, epochs=10, hidden_counts=(2, 3), seeds=1)
    fits = runs.depth_fits(experiment, points=50)
    assert fits.outputs.shape == (5, 50, 1) and fits.train_loss.shape == (2, 5) and fits.epochs == [0, 10]
    assert fits.depths == [4, 5, 4, 5, 5] and fits.labels == ["plain", "plain", "residual", "residual", "unscaled"]
    with torch.no_grad():
        torch.testing.assert_close(fits.outputs[3], experiment.stack.to_mlp(3)(fits.grid), rtol=1e-6, atol=1e-7)
    box = residual_widgets.depth_explorer(fits, split)
    toggle = next(c for c in box.children[-2].children if hasattr(c, "options") and "residual" in c.options)
    toggle.value = "residual"  # redraws what it was handed
    with pytest.raises(TypeError, match="depth_fits"):
        residual_widgets.depth_explorer(experiment, split)


# ----------------------------------------------------------------------- the identity embedding

def _residual_mlp(hidden, seed=4, activation="leaky_relu"):
    torch.manual_seed(seed)
    return models.MLP([1] + [5] * hidden + [1, 1], activation=activation, residual=True).double()


# ---------------------------------------------------------------------------- the checkers

def test_parameter_count_checker():
    right = exercises.check_parameter_count(lambda hidden, width: (hidden - 1) * (width ** 2 + width) + 3 * width + 3)
    assert right.passed and "1,338" in right.message
    forgot_biases = exercises.check_parameter_count(lambda hidden, width: (hidden - 1) * width ** 2 + 2 * width + 1)
    assert not forgot_biases.passed and "biases" in forgot_biases.message
    crashed = exercises.check_parameter_count(lambda hidden, width: 1 / 0)
    assert not crashed.passed and "ZeroDivisionError" in crashed.message
    with pytest.raises(TypeError, match="formula"):
        exercises.check_parameter_count(78)


def test_identity_embedding_checker():
    assert exercises.check_identity_embedding(embed_residual).passed

    def random_extra_blocks(shallow, hidden):
        deep = embed_residual(shallow, hidden)
        with torch.no_grad():
            for layer in deep.layers[3:hidden]:
                layer.weight.normal_()
        return deep

    wrong = exercises.check_identity_embedding(random_extra_blocks)
    assert not wrong.passed and "zero" in wrong.message
    shape = exercises.check_identity_embedding(lambda shallow, hidden: shallow)
    assert not shape.passed and "widths" in shape.message
    with pytest.raises(TypeError, match="embed"):
        exercises.check_identity_embedding(None)


def _book_solution(shallow, hidden, zero_biases=True, double=True, residual=True, activation=None, tail=True):
    """The solution of the book's exercise, with switches for the likely mistakes."""
    k = len(shallow.layers) - 2
    deep = models.MLP([1] + [5] * hidden + [1, 1], activation=activation or shallow.activation, residual=residual)
    deep = deep.double() if double else deep
    with torch.no_grad():
        targets = list(deep.layers[:k]) + (list(deep.layers[hidden:]) if tail else [])
        for target, source in zip(targets, shallow.layers):
            target.weight.copy_(source.weight)
            target.bias.copy_(source.bias)
        for extra in deep.layers[k:hidden]:
            extra.weight.zero_()
            if zero_biases:
                extra.bias.zero_()
    return deep


def test_identity_embedding_checker_names_the_mistake():
    """The book's solution passes; each likely mistake fails with a message naming it."""
    assert exercises.check_identity_embedding(_book_solution).passed
    mistakes = {
        "zero the biases": dict(zero_biases=False),
        "float32": dict(double=False),
        "residual=True": dict(residual=False),
        "activation=shallow.activation": dict(activation="relu"),
        "last two layers": dict(tail=False),
    }
    for phrase, switches in mistakes.items():
        result = exercises.check_identity_embedding(lambda shallow, hidden, s=switches: _book_solution(shallow, hidden, **s))
        assert not result.passed and phrase in result.message, (phrase, result.message)

    def zeroes_the_shallow_net(shallow, hidden):
        deep = _book_solution(shallow, hidden)
        with torch.no_grad():
            shallow.layers[0].weight.zero_()
        return deep

    changed = exercises.check_identity_embedding(zeroes_the_shallow_net)
    assert not changed.passed and "changed the shallow net" in changed.message


def test_identity_embedding_reference_is_the_written_out_net():
    """The checker's reference, the residual net written out from its weights, equals MLP's forward pass."""
    shallow = _residual_mlp(4, seed=7)
    x = torch.linspace(-3, 3, 31, dtype=torch.float64).unsqueeze(1)
    parameters = [(layer.weight.detach(), layer.bias.detach()) for layer in shallow.layers]
    with torch.no_grad():
        torch.testing.assert_close(exercises._reference_forward(shallow.widths, parameters, 0.01, x), shallow(x),
                                   rtol=0, atol=1e-14)
