"""The regularisation chapter, penalties part: its exercise checkers (right answers pass, each planted
mistake fails with its hint, misuse raises TypeError) and its runs (lecturelib.experiments.regularisation
.penalties) against closed forms, torch.optim and plain lecturelib.train.fit."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lecturelib.exercises import regularisation as checkers  # noqa: E402


# ------------------------------------------------------------------ check_inverted_dropout

def dropout_right(x, keep, generator):
    mask = torch.rand(x.shape, generator=generator) < keep
    return x * mask / keep


def dropout_right_numpy(x, keep, generator):
    mask = (torch.rand(x.shape, generator=generator) < keep).numpy()
    return x.numpy() * mask.astype(np.float64) * (1.0 / keep)


def dropout_unscaled(x, keep, generator):
    return x * (torch.rand(x.shape, generator=generator) < keep)


def dropout_swapped(x, keep, generator):
    drop = 1 - keep
    return x * (torch.rand(x.shape, generator=generator) < drop) / drop


def dropout_swapped_mask(x, keep, generator):
    return x * (torch.rand(x.shape, generator=generator) >= keep) / keep


def dropout_scales_dropped(x, keep, generator):
    mask = torch.rand(x.shape, generator=generator) < keep
    return torch.where(mask, x, x / keep)


def dropout_vanilla_scaling(x, keep, generator):
    return x * (torch.rand(x.shape, generator=generator) < keep) * keep


def dropout_feature_mask(x, keep, generator):
    return x * (torch.rand(x.shape[-1], generator=generator) < keep) / keep


def dropout_row_mask(x, keep, generator):
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    return x * (torch.rand(shape, generator=generator) < keep) / keep


def dropout_global_rng(x, keep, generator):
    return x * (torch.rand(x.shape) < keep) / keep


def dropout_float64_draws(x, keep, generator):
    return x * (torch.rand(x.shape, generator=generator, dtype=torch.float64) < keep) / keep


def dropout_noise(x, keep, generator):
    return x * (1 + 0.1 * torch.randn(x.shape, generator=generator))


def dropout_half(x, keep, generator):
    return x * (torch.rand(x.shape, generator=generator) < 0.5) / keep


def dropout_same_mask(x, keep, generator):
    # a fixed mask, redrawn from a private generator on every call: right per call, but the mean is not x
    mask = torch.rand(x.shape, generator=torch.Generator().manual_seed(0)) < keep
    return x * mask / keep


def test_check_inverted_dropout_passes_right_answers():
    for answer in (dropout_right, dropout_right_numpy):
        result = checkers.check_inverted_dropout(answer)
        assert result.passed, result.message
        assert repr(result).startswith("Correct:")


@pytest.mark.parametrize("answer, words", [
    (dropout_unscaled, "not scaled"),
    (dropout_swapped, "swapped"),
    (dropout_swapped_mask, "swapped"),
    (dropout_scales_dropped, "applied to the dropped units"),
    (dropout_vanilla_scaling, "multiplied by keep"),
    (dropout_feature_mask, "one value per feature"),
    (dropout_row_mask, "one value per row"),
    (dropout_global_rng, "right statistics"),
    (dropout_float64_draws, "right statistics"),
    (dropout_noise, "either 0"),
    (dropout_half, "share of units kept"),
])
def test_check_inverted_dropout_names_each_mistake(answer, words):
    result = checkers.check_inverted_dropout(answer)
    assert not result.passed
    assert words in result.message, result.message
    assert repr(result).startswith("Not yet:")


def test_check_inverted_dropout_reports_crashes_none_and_shapes():
    assert "ZeroDivisionError" in checkers.check_inverted_dropout(lambda x, keep, g: 1 / 0).message
    assert "forget to `return`" in checkers.check_inverted_dropout(lambda x, keep, g: None).message
    assert "return a tensor" in checkers.check_inverted_dropout(lambda x, keep, g: "x").message
    assert "shape of x" in checkers.check_inverted_dropout(lambda x, keep, g: dropout_right(x, keep, g).sum()).message
    # one mask reused on every call passes each single case but fails the mean over many masks
    # (the first case seeds its generator with 0, so the private seed-0 draw is the prescribed one there)
    message = checkers.check_inverted_dropout(dropout_same_mask).message
    assert "test case 2" in message or "mean" in message


def test_check_inverted_dropout_needs_a_fresh_mask_per_call():
    calls = []

    def cached(x, keep, generator):  # right on the four cases, then reuses its first mask
        if len(calls) < 4:
            calls.append(dropout_right(x, keep, generator))
            return calls[-1]
        if len(calls) == 4:
            calls.append(torch.rand(x.shape, generator=generator) < keep)
        return x * calls[4] / keep

    result = checkers.check_inverted_dropout(cached)
    assert not result.passed and "new mask on every call" in result.message


def test_check_inverted_dropout_rejects_misuse():
    with pytest.raises(TypeError, match="dropout_fn must be a function"):
        checkers.check_inverted_dropout(0.5)


# ------------------------------------------------------------------ check_l1_proximal_step

def prox_right(w, threshold):
    return torch.sign(w) * torch.clamp(w.abs() - threshold, min=0)


def prox_right_in_place(w, threshold):
    # a right answer written in place, with numpy output
    small = w.abs() <= threshold
    w.sub_(threshold * torch.sign(w))
    w[small] = 0.0
    return w.numpy()


def prox_subgradient(w, threshold):
    return w - threshold * torch.sign(w)


def prox_one_sided(w, threshold):
    return torch.clamp(w - threshold, min=0)


def prox_no_sign(w, threshold):
    return torch.clamp(w.abs() - threshold, min=0)


def prox_hard(w, threshold):
    return w * (w.abs() > threshold)


def prox_grows(w, threshold):
    return w + threshold * torch.sign(w)


def prox_flipped(w, threshold):
    return torch.sign(w) * torch.clamp(threshold - w.abs(), min=0)


def prox_half(w, threshold):
    return torch.sign(w) * torch.clamp(w.abs() - threshold / 2, min=0)


def test_check_l1_proximal_step_passes_right_answers():
    for answer in (prox_right, prox_right_in_place):
        result = checkers.check_l1_proximal_step(answer)
        assert result.passed, result.message


@pytest.mark.parametrize("answer, words", [
    (prox_subgradient, "sign-subgradient step"),
    (prox_one_sided, "zeroes every negative weight"),
    (prox_no_sign, "sign of w is lost"),
    (prox_hard, "hard thresholding"),
    (prox_grows, "wrong sign"),
    (prox_flipped, "wrong sign"),
    (prox_half, "soft-thresholding: sign(w)"),
])
def test_check_l1_proximal_step_names_each_mistake(answer, words):
    result = checkers.check_l1_proximal_step(answer)
    assert not result.passed
    assert words in result.message, result.message


def test_check_l1_proximal_step_reports_crashes_and_none():
    assert "ValueError" in checkers.check_l1_proximal_step(lambda w, t: int("x")).message
    assert "forget to `return`" in checkers.check_l1_proximal_step(lambda w, t: None).message
    assert "return a tensor" in checkers.check_l1_proximal_step(lambda w, t: object()).message
    with pytest.raises(TypeError, match="prox_fn must be a function"):
        checkers.check_l1_proximal_step("soft threshold")
