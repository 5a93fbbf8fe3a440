"""The overparameterisation runs of the regularisation chapter against fit_stacked called directly on
the stacks they build, MLP's own initialisation, closed-form slopes and lipschitz.lipschitz_upper_bound."""

import math

import pytest
import torch

from lecturelib import data, lipschitz, models, params
from lecturelib.experiments.regularisation import overparameterisation as op
from lecturelib.models import StackedMLP
from lecturelib.train import fit_stacked


def _split():
    return data.regression_1d(n_train=8, n_test=5)


def test_regression_sweep_is_fit_stacked_on_its_stack_and_is_cached():
    split = _split()
    sweep = op.regression_sweep(split, widths=(2, 3), seeds=2, epochs=8, weight_decay=1e-3)
    assert sweep.members == [(2, 0), (2, 1), (3, 0), (3, 1)] and sweep.keys == [2, 3]
    stack = op.sweep_stack(op._regression_widths, sweep.members)
    torch.testing.assert_close(sweep.initial_norm, stack.parameter_norms(), rtol=0, atol=0)
    history = fit_stacked(stack, split, "adam", lr=1e-2, weight_decay=1e-3, epochs=8, eval_every=2,
                          schedule=op._decay(8, 100.0), computation="written")
    assert params.fingerprint(sweep.stack) == params.fingerprint(stack)
    assert sweep.history.train_loss == history.train_loss
    again = op.regression_sweep(split, widths=(2, 3), seeds=2, epochs=8, weight_decay=1e-3)
    assert again.history.train_loss == history.train_loss
    other = op.regression_sweep(split, widths=(2, 3), seeds=2, epochs=8)  # no decay: another run
    assert other.history.train_loss != history.train_loss


def test_sweep_members_start_as_mlp_does():
    stack = op.sweep_stack(op._digits_widths, [(3, 0), (5, 1)])
    for m, (w, seed) in enumerate([(3, 0), (5, 1)]):
        torch.manual_seed(seed)
        reference = models.MLP([64, w, 10], "relu")
        for mine, theirs in zip(stack.to_mlp(m).layers, reference.layers):
            torch.testing.assert_close(mine.weight, theirs.weight, rtol=0, atol=0)


def test_digits_subset_is_one_hot_of_a_seeded_choice():
    subset = op.digits_subset(n_train=30, seed=0)
    full = data.digits(seed=0)
    assert subset.X_train.shape == (30, 64) and subset.y_train.shape == (30, 10)
    assert torch.equal(subset.y_train.sum(1), torch.ones(30))
    assert torch.equal(subset.y_test.argmax(1), full.y_test)
    rows = [(full.X_train == x).all(1).nonzero()[0, 0] for x in subset.X_train]
    assert torch.equal(subset.y_train.argmax(1), full.y_train[torch.stack(rows)])
    assert torch.equal(op.digits_subset(n_train=30).X_train, subset.X_train)
    with pytest.raises(ValueError, match="n_train"):
        op.digits_subset(n_train=5)


def test_norm_stack_scales_mlp_initialisation():
    members = [("small", 0), ("large", 0), ("rebalanced", 1)]
    stack = op.norm_stack(members)
    assert stack.n_parameters() == [888, 888, 888]
    for m, (start, seed) in enumerate(members):
        torch.manual_seed(seed)
        reference = models.MLP(op.NORM_WIDTHS, "leaky_relu", residual=True)
        ends, c = op.NORM_STARTS[start]
        for j, (mine, theirs) in enumerate(zip(stack.to_mlp(m).layers, reference.layers)):
            block = 1 / math.sqrt(29)
            weight, bias = ((ends * c, ends * c) if j == 0 else (block, block * c) if j <= 29
                            else (ends / c, ends) if j == 30 else (1.0, 1.0))
            torch.testing.assert_close(mine.weight, weight * theirs.weight, rtol=1e-6, atol=0)
            torch.testing.assert_close(mine.bias, bias * theirs.bias, rtol=1e-6, atol=0)


def test_norm_stack_is_the_scaled_from_seeds_stack_bit_for_bit():
    members = [("small", 0), ("large", 1), ("small", 2)]
    stack = StackedMLP.from_seeds([op.NORM_WIDTHS] * 3, "leaky_relu", True, [0, 1, 2])
    stack.scale_blocks(1 / math.sqrt(29))
    factor = torch.tensor([op.NORM_STARTS[start][0] for start, _ in members]).view(-1, 1, 1)
    with torch.no_grad():
        layers = stack.layers
        for weight, bias in (layers[0], layers[-2]):
            weight.mul_(factor)
            bias.mul_(factor)
    assert torch.equal(op.norm_stack(members).theta, stack.theta)


def test_rebalanced_start_is_the_small_function_with_a_larger_norm():
    x = torch.linspace(-1.5, 1.5, 301, dtype=torch.float64)[:, None]
    for seed in range(3):
        small, rebalanced = op.norm_member("small", seed).double(), op.norm_member("rebalanced", seed).double()
        torch.testing.assert_close(rebalanced(x), small(x), rtol=0, atol=1e-8)
        assert float(params.norm(rebalanced)) > 50 * float(params.norm(small))
        broken = op.norm_member("rebalanced", seed).double()
        with torch.no_grad():
            broken.layers[5].bias.div_(op.NORM_STARTS["rebalanced"][1])  # one block bias left unscaled
        assert (broken(x) - small(x)).abs().max() > 1e-6


def test_steepest_slopes_of_known_functions():
    stack = StackedMLP([[1, 2, 1], [1, 2, 1]], "relu")
    with torch.no_grad():  # member 0: 3 relu(x); member 1: relu(x) - relu(x - 0.5) has slope 1 then 0
        layers = stack.layers
        layers[0][0][0, 0, 0], layers[1][0][0, 0, 0] = 1.0, 3.0
        layers[0][0][1, 0, :] = torch.tensor([1.0, 1.0])
        layers[0][1][1, 0, :] = torch.tensor([0.0, -0.5])
        layers[1][0][1, :, 0] = torch.tensor([1.0, -1.0])
    slopes = op.steepest_slopes(stack, -1.0, 1.0, points=2001)
    torch.testing.assert_close(slopes, torch.tensor([3.0, 1.0], dtype=torch.float64), rtol=1e-3, atol=0)  # float32 differences
    with pytest.raises(ValueError, match="lo < hi"):
        op.steepest_slopes(stack, 1.0, -1.0)


def test_member_summary_against_direct_measures():
    split = _split()
    sweep = op.norm_experiment(split, seeds=1, epochs=4)
    rows = op.member_summary(sweep, split)
    assert [(r["key"], r["seed"]) for r in rows] == [("small", 0), ("large", 0), ("rebalanced", 0)]
    for m, row in enumerate(rows):
        mlp = sweep.stack.to_mlp(m)
        assert row["norm"] == pytest.approx(float(params.norm(mlp)), rel=1e-5)
        assert row["lipschitz"] == pytest.approx(lipschitz.lipschitz_upper_bound(mlp, 1.0), rel=1e-6)
        assert row["train_loss"] == sweep.history.train_loss[-1][m] and row["parameters"] == 888
    digits_rows = op.member_summary(op.digits_sweep(op.digits_subset(20), widths=(2,), seeds=1, epochs=2),
                                    op.digits_subset(20))
    assert 0 <= digits_rows[0]["train_error"] <= 1 and "slope" not in digits_rows[0]


def test_seed_spread_is_the_std_over_seeds():
    split = _split()
    sweep = op.regression_sweep(split, widths=(4,), seeds=3, epochs=4)
    grid, outputs, at_data = op.seed_spread(sweep, 4, split, points=11)
    assert grid.shape == (11, 1) and outputs.shape == (3, 11)
    torch.testing.assert_close(at_data, sweep.stack(split.X_train)[:, :, 0].detach().std(0))
    with pytest.raises(ValueError, match="two seeds"):
        op.seed_spread(op.regression_sweep(split, widths=(4,), seeds=1, epochs=4), 4, split)


def test_bad_arguments_are_refused():
    split = _split()
    with pytest.raises(ValueError, match="1-D regression"):
        op.regression_sweep(op.digits_subset(20))
    with pytest.raises(ValueError, match="widths"):
        op.regression_sweep(split, widths=(0,))
    with pytest.raises(ValueError, match="one-hot"):
        op.digits_sweep(split)
    with pytest.raises(ValueError, match="starts"):
        op.norm_experiment(split, starts=("huge",))
    with pytest.raises(ValueError, match="start"):
        op.norm_member("huge", 0)
    with pytest.raises(ValueError, match="weight_decay"):
        op.regression_sweep(split, weight_decay=float("nan"))
