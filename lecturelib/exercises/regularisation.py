r"""Checkers for the regularisation chapter's exercises.

* :func:`check_inverted_dropout`: the reader's inverted dropout in the lecture's keep-probability
  convention, ``dropout_fn(x, keep, generator) -> tensor``, with the mask drawn as
  ``torch.rand(x.shape, generator=generator) < keep``:

  .. math:: \tilde x_i = \frac{m_i x_i}{p}, \qquad m_i \sim \mathrm{Bernoulli}(p), \qquad
            \mathbb E[\tilde x_i] = x_i

  (Hinton et al. 2012; Srivastava et al. 2014), so that the test-time pass is the identity.
* :func:`check_l1_proximal_step`: the reader's proximal step of the L1 penalty,
  ``prox_fn(w, threshold)``, soft-thresholding

  .. math:: \operatorname{prox}_{t\|\cdot\|_1}(w)_i = \operatorname{sign}(w_i)\,\max(|w_i| - t, 0)

  (Tibshirani 1996; Beck & Teboulle 2009), the exact minimiser of :math:`\tfrac12 (v - w)^2 + t|v|`.

Both compare with a reference written out here, independently of :mod:`lecturelib.regularization`;
on a mismatch they replay the usual mistakes on the same input and, when one reproduces the reader's
numbers, name it.
"""

from __future__ import annotations

import math

import torch

from . import ExerciseResult, answer_tensor, call_answer, check_close, require_function

__all__ = ["check_inverted_dropout", "check_l1_proximal_step"]

_DTYPE = torch.float64


def _same(got, expected, rtol=1e-12, atol=1e-12):
    return got.shape == expected.shape and bool(torch.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True))


def _diagnose(got, mistakes, args):
    """The hint of the first planted mistake that reproduces ``got`` from ``args``, else ``None``."""
    for mistake, hint in mistakes:
        try:
            expected = mistake(*args)
        except RuntimeError:  # a mistake that cannot be formed for this input (a shape that does not broadcast)
            continue
        if _same(got, expected):
            return hint
    return None


# ------------------------------------------------------------------ inverted dropout

def _mask(x, keep, seed, shape=None):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(x.shape if shape is None else shape, generator=generator, dtype=torch.float32) < keep


def _dropout_reference(x, keep, seed):
    """Inverted dropout with the mask the exercise prescribes: kept units scaled by 1/keep, dropped ones 0."""
    return x * _mask(x, keep, seed) / keep


_DROPOUT_MISTAKES = (
    (lambda x, p, s: x * _mask(x, p, s),
     "the kept units are not scaled: inverted dropout divides them by keep, so that the mean of the output "
     "equals x and the test-time pass needs no scaling."),
    (lambda x, p, s: x * _mask(x, 1 - p, s) / (1 - p),
     "keep and drop probability are swapped: keep is the probability that a unit is KEPT "
     "(mask = torch.rand(x.shape, generator=generator) < keep)."),
    (lambda x, p, s: x * _mask(x, 1 - p, s) / p,
     "keep and drop probability are swapped in the mask: keep is the probability that a unit is KEPT "
     "(mask = torch.rand(x.shape, generator=generator) < keep)."),
    (lambda x, p, s: x * ~_mask(x, p, s) / p,
     "the mask is inverted (kept and dropped units swapped): the units with torch.rand(...) < keep are the "
     "ones KEPT, not the ones dropped."),
    (lambda x, p, s: x * ~_mask(x, p, s) / (1 - p),
     "keep and drop probability are swapped: keep is the probability that a unit is KEPT "
     "(mask = torch.rand(x.shape, generator=generator) < keep)."),
    (lambda x, p, s: torch.where(_mask(x, p, s), x, x / p),
     "the scaling is applied to the dropped units: they must be set to 0, and the kept units divided by keep."),
    (lambda x, p, s: x * _mask(x, p, s) * p,
     "the kept units are multiplied by keep: that is the test-time scaling of vanilla dropout; inverted "
     "dropout divides the kept units by keep during training."),
    (lambda x, p, s: x * _mask(x, p, s, x.shape[-1:]) / p,
     "the mask is drawn with another shape (one value per feature, shared by every row): draw one value per "
     "entry, torch.rand(x.shape, generator=generator) < keep."),
    (lambda x, p, s: x * _mask(x, p, s, x.shape[:1] + (1,) * (x.dim() - 1)) / p,
     "the mask is drawn with another shape (one value per row, shared by its features): draw one value per "
     "entry, torch.rand(x.shape, generator=generator) < keep."),
    (lambda x, p, s: x * _mask(x, p, s, ()) / p,
     "the mask is a single number, so the whole input is kept or dropped at once: draw one value per entry, "
     "torch.rand(x.shape, generator=generator) < keep."),
)


def _statistical_hint(got, x, keep):
    """What the output's statistics say when it matches neither the reference nor a planted mistake."""
    nonzero = x != 0
    kept = (got != 0) & nonzero
    values_ok = bool(torch.all(torch.isclose(got[kept], x[kept] / keep, rtol=1e-6, atol=1e-9)))
    if not values_ok:
        return ("every entry of the output must be either 0 (a dropped unit) or x / keep (a kept unit); "
                "some are neither.")
    n = int(nonzero.sum())
    fraction = float(kept.sum()) / n
    spread = math.sqrt(keep * (1 - keep) / n)
    if abs(fraction - keep) > 6 * spread + 1e-12:
        return (f"the share of units kept is {fraction:.3f}, but should be close to keep = {keep}: "
                "mask = torch.rand(x.shape, generator=generator) < keep.")
    return ("the output has the right statistics, but not the prescribed mask: draw it exactly as "
            "torch.rand(x.shape, generator=generator) < keep (with the generator passed in, once, before "
            "any other draw).")


def check_inverted_dropout(dropout_fn) -> ExerciseResult:
    """Check ``dropout_fn(x, keep, generator) -> tensor``, inverted dropout with the mask
    ``torch.rand(x.shape, generator=generator) < keep``.

    Four cases (shapes ``(2000,)``, ``(64, 50)``, ``(8, 5, 12)``, ``(30, 40)``; ``keep`` 0.5, 0.8, 0.25 and 1),
    float64 inputs, each with a freshly seeded generator. Statistically, every output entry must be 0
    or ``x / keep`` and the mean over 400 masks of a fixed input must be within 6 standard errors of ``x``;
    exactly (to ``1e-12``), the output must equal the reference drawn from the same generator state.
    """
    require_function(dropout_fn, "dropout_fn")
    cases = (((2000,), 0.5, 0), ((64, 50), 0.8, 1), ((8, 5, 12), 0.25, 2), ((30, 40), 1.0, 3))
    for number, (shape, keep, seed) in enumerate(cases, 1):
        x = torch.randn(shape, generator=torch.Generator().manual_seed(100 + seed), dtype=_DTYPE)
        where = f"test case {number} (x of shape {tuple(shape)}, keep={keep})"
        generator = torch.Generator().manual_seed(seed)
        answer, failure = call_answer(dropout_fn, (x.clone(), keep, generator), where)
        if failure is not None:
            return failure
        if answer is None:
            return ExerciseResult(False, f"{where}: the answer is None; did the function forget to `return`?")
        got = answer_tensor(answer)
        if got is None:
            return ExerciseResult(False, f"{where}: return a tensor, got {type(answer).__name__}")
        expected = _dropout_reference(x, keep, seed)
        if got.shape != expected.shape:
            return ExerciseResult(False, f"{where}: the output must have the shape of x, {tuple(shape)}; "
                                         f"got {tuple(got.shape)}.")
        if not _same(got, expected):
            hint = _diagnose(got, _DROPOUT_MISTAKES, (x, keep, seed)) or _statistical_hint(got, x, keep)
            return check_close(got, expected, f"the output on {where}", rtol=1e-12, atol=1e-12, hint=hint)
    result = _check_mean(dropout_fn)
    if result is not None:
        return result
    return ExerciseResult(True, f"your inverted dropout draws the prescribed mask and matches the reference on all "
                                f"{len(cases)} test cases; its mean over 400 masks is x.")


def _check_mean(dropout_fn, keep=0.3, draws=400):
    """The mean of the output over ``draws`` masks (one generator, called again and again) is x."""
    x = torch.linspace(-2.0, 2.0, 50, dtype=_DTYPE)
    generator = torch.Generator().manual_seed(7)
    total = torch.zeros_like(x)
    for _ in range(draws):
        answer, failure = call_answer(dropout_fn, (x.clone(), keep, generator), "the mean over many masks")
        if failure is not None:
            return failure
        total += answer_tensor(answer)
    mean = total / draws
    standard_error = x.abs() * math.sqrt((1 - keep) / keep / draws)
    if bool(torch.all((mean - x).abs() <= 6 * standard_error + 1e-9)):
        return None
    return ExerciseResult(False, "the mean of the output over 400 masks drawn from one generator is not x: "
                                 "draw a new mask on every call, from the generator passed in.")


# ------------------------------------------------------------------ L1 proximal step

def _soft_threshold(w, threshold):
    return torch.sign(w) * torch.clamp(w.abs() - threshold, min=0.0)


_PROX_MISTAKES = (
    (lambda w, t: w - t * torch.sign(w),
     "this is the plain sign-subgradient step w - threshold * sign(w), without the clamp at zero: a weight "
     "smaller than the threshold overshoots past zero instead of landing on it; set those weights to 0."),
    (lambda w, t: torch.clamp(w - t, min=0.0),
     "max(w - threshold, 0) zeroes every negative weight: soft-thresholding is symmetric, "
     "sign(w) * max(|w| - threshold, 0)."),
    (lambda w, t: torch.clamp(w.abs() - t, min=0.0),
     "the sign of w is lost: multiply max(|w| - threshold, 0) by sign(w)."),
    (lambda w, t: w * (w.abs() > t),
     "this is hard thresholding: the weights that survive must also shrink towards zero by the threshold."),
    (lambda w, t: w + t * torch.sign(w),
     "the threshold is applied with the wrong sign: the weights must shrink towards zero, "
     "sign(w) * max(|w| - threshold, 0)."),
    (lambda w, t: torch.sign(w) * torch.clamp(t - w.abs(), min=0.0),
     "the threshold is applied with the wrong sign: max(|w| - threshold, 0), not max(threshold - |w|, 0)."),
    (lambda w, t: torch.sign(w) * torch.clamp(w.abs() + t, min=0.0),
     "the threshold is applied with the wrong sign: the weights must shrink towards zero, "
     "sign(w) * max(|w| - threshold, 0)."),
)


def check_l1_proximal_step(prox_fn) -> ExerciseResult:
    """Check ``prox_fn(w, threshold)``, the proximal step of ``threshold * ||w||_1`` (soft-thresholding).

    Four float64 cases: a vector with entries below, at and above the threshold (both signs, and 0),
    a random matrix, a threshold of 0 (the identity) and a large one (everything zero); tolerance
    ``1e-12``.
    """
    require_function(prox_fn, "prox_fn")
    generator = torch.Generator().manual_seed(0)
    cases = (
        (torch.tensor([-2.0, -0.5, -0.3, -0.1, 0.0, 0.05, 0.3, 0.45, 1.5], dtype=_DTYPE), 0.3),
        (torch.randn(20, 15, generator=generator, dtype=_DTYPE), 0.7),
        (torch.randn(12, generator=generator, dtype=_DTYPE), 0.0),
        (torch.randn(6, 4, generator=generator, dtype=_DTYPE), 10.0),
    )
    for number, (w, threshold) in enumerate(cases, 1):
        where = f"test case {number} (w of shape {tuple(w.shape)}, threshold={threshold})"
        answer, failure = call_answer(prox_fn, (w.clone(), threshold), where)
        if failure is not None:
            return failure
        got = answer_tensor(answer) if answer is not None else None
        if answer is not None and got is None:
            return ExerciseResult(False, f"{where}: return a tensor, got {type(answer).__name__}")
        expected = _soft_threshold(w, threshold)
        if got is None or not _same(got, expected):
            hint = "" if got is None else (_diagnose(got, _PROX_MISTAKES, (w, threshold))
                                           or "soft-thresholding: sign(w) * max(|w| - threshold, 0).")
            return check_close(got, expected, f"the proximal step on {where}", rtol=1e-12, atol=1e-12, hint=hint)
    return ExerciseResult(True, f"your proximal step is soft-thresholding on all {len(cases)} test cases: small "
                                "weights land exactly on zero, the others shrink by the threshold.")
