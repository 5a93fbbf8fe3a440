r"""Checkers for the optimisers chapter's exercises.

* :func:`check_nesterov_update`: the reader's Nesterov step in the lecture's look-ahead form,
  ``nesterov_step(x, v, grad_fn, lr, momentum) -> (x_new, v_new)`` with

  .. math:: v \leftarrow \rho v - \alpha \nabla f(x + \rho v), \qquad x \leftarrow x + v

  (Nesterov 1983; Sutskever et al. 2013), compared over many steps on a random float64 quadratic.
* :func:`check_adam_update`: the reader's Adam step with bias correction,
  ``adam_step(theta, grad, m, v, t, lr, beta1, beta2, eps) -> (theta, m, v)``, where ``t`` is the
  number of the step (1 on the first call), compared with ``torch.optim.Adam`` (Kingma & Ba 2015).

On a mismatch each checker replays the usual mistakes from the same state and, when one of them
reproduces the reader's numbers, names it.
"""

from __future__ import annotations

import numpy as np
import torch

from . import ExerciseResult, answer_tensor, call_answer, check_close, require_function

__all__ = ["check_nesterov_update", "check_adam_update"]

_DTYPE = torch.float64


def _unpack(answer, names):
    """``answer`` as a tuple of float64 tensors named ``names``, or a failed result saying what to return."""
    wanted = f"return a tuple ({', '.join(names)})"
    if not isinstance(answer, (tuple, list)) or len(answer) != len(names):
        return None, ExerciseResult(False, f"{wanted}, got {type(answer).__name__}"
                                           + (f" of length {len(answer)}" if isinstance(answer, (tuple, list))
                                              else ""))
    tensors = tuple(answer_tensor(value) for value in answer)
    for name, value in zip(names, tensors):
        if value is None:
            return None, ExerciseResult(False, f"{wanted}: {name} is not a number, array or tensor")
    return tensors, None


def _same(got, expected, rtol=1e-9, atol=1e-12):
    """Two tuples of tensors equal to ``rtol``, NaN matching NaN (a planted mistake may produce NaN)."""
    return all(g.shape == e.shape and bool(torch.allclose(g, e, rtol=rtol, atol=atol, equal_nan=True))
               for g, e in zip(got, expected))


def _diagnose(got, mistakes, args):
    """The hint of the first planted mistake whose step from ``args`` reproduces ``got``, else ``None``."""
    for mistake, hint in mistakes:
        with np.errstate(all="ignore"):
            if _same(got, mistake(*args)):
                return hint
    return None


# ------------------------------------------------------------------ Nesterov

def _quadratic(dimension, seed, condition=20.0):
    """A random SPD quadratic f(x) = x^T A x / 2 - b^T x with eigenvalues in [1, condition]; its gradient."""
    generator = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dimension, dimension, generator=generator, dtype=_DTYPE))
    eigenvalues = torch.logspace(0, float(np.log10(condition)), dimension, dtype=_DTYPE)
    A = q @ torch.diag(eigenvalues) @ q.T
    b = torch.randn(dimension, generator=generator, dtype=_DTYPE)
    return (lambda x: A @ x - b), generator


def _nesterov_reference(x, v, grad_fn, lr, momentum):
    """The lecture's look-ahead form, written out independently of lecturelib.optim."""
    v_new = momentum * v - lr * grad_fn(x + momentum * v)
    return x + v_new, v_new


_NESTEROV_MISTAKES = (
    (lambda x, v, g, lr, rho: (x + rho * v - lr * g(x), rho * v - lr * g(x)),
     "the gradient is taken at x; Nesterov takes it at the look-ahead point x + momentum * v "
     "(what you wrote is the heavy-ball momentum of Polyak)."),
    (lambda x, v, g, lr, rho: (x + rho * v + lr * g(x + rho * v), rho * v + lr * g(x + rho * v)),
     "the velocity has the wrong sign: v <- momentum * v - lr * grad(x + momentum * v), so that x + v "
     "moves downhill."),
    (lambda x, v, g, lr, rho: (x - (rho * v - lr * g(x + rho * v)), rho * v - lr * g(x + rho * v)),
     "x moves against the velocity: with v <- momentum * v - lr * grad(...), the step is x <- x + v."),
    (lambda x, v, g, lr, rho: (x + v, rho * v - lr * g(x + rho * v)),
     "x is moved with the old velocity: first update v, then x <- x + v with the new v."),
    (lambda x, v, g, lr, rho: (x + rho * (v - lr * g(x + rho * v)), rho * (v - lr * g(x + rho * v))),
     "the momentum is applied after the gradient step, v <- momentum * (v - lr * grad); "
     "it multiplies only the old velocity: v <- momentum * v - lr * grad(x + momentum * v)."),
)


def check_nesterov_update(nesterov_step) -> ExerciseResult:
    """Check ``nesterov_step(x, v, grad_fn, lr, momentum) -> (x_new, v_new)``.

    Forty steps on each of two random float64 quadratics (dimensions 2 and 6, condition number 20),
    from a zero and from a random velocity, with several ``(lr, momentum)`` settings; tolerance
    ``1e-9`` relative. ``x`` and ``v`` are float64 tensors, ``grad_fn`` maps a tensor to a tensor.
    """
    require_function(nesterov_step, "nesterov_step")
    settings = ((0.05, 0.9, 2, 0), (0.02, 0.5, 6, 1), (0.08, 0.95, 6, 2))
    for case, (lr, momentum, dimension, seed) in enumerate(settings, 1):
        grad_fn, generator = _quadratic(dimension, seed)
        x = torch.randn(dimension, generator=generator, dtype=_DTYPE)
        v = torch.zeros(dimension, dtype=_DTYPE) if case == 1 else 0.3 * torch.randn(dimension, generator=generator,
                                                                                         dtype=_DTYPE)
        for step in range(1, 41):
            where = f"step {step} of test case {case} (lr={lr}, momentum={momentum}, {dimension}-D quadratic)"
            answer, failure = call_answer(nesterov_step, (x.clone(), v.clone(), grad_fn, lr, momentum), where)
            if failure is not None:
                return failure
            got, failure = _unpack(answer, ("x_new", "v_new"))
            if failure is not None:
                return failure
            expected = _nesterov_reference(x, v, grad_fn, lr, momentum)
            if not _same(got, expected):
                hint = _diagnose(got, _NESTEROV_MISTAKES, (x, v, grad_fn, lr, momentum))
                if hint is None:
                    hint = "v <- momentum * v - lr * grad_fn(x + momentum * v); x <- x + v (return the new x and v)."
                for name, g, e in zip(("x_new", "v_new"), got, expected):
                    result = check_close(g, e, f"{name} at {where}", rtol=1e-9, atol=1e-12, hint=hint)
                    if not result.passed:
                        return result
                return ExerciseResult(False, f"{where}: the answer does not match the reference. {hint}")
            x, v = expected
    return ExerciseResult(True, "your Nesterov step matches the look-ahead update over 40 steps on each of "
                                "3 random quadratics.")


# ------------------------------------------------------------------ Adam

def _adam_variant(correct_first=True, correct_second=True, eps_inside=False, shift=0, square=True):
    """One Adam step, written out; the keyword arguments plant the usual mistakes."""
    def step(theta, grad, m, v, t, lr, beta1, beta2, eps):
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * (grad * grad if square else grad)
        m_hat = m / (1 - beta1 ** (t + shift)) if correct_first else m
        v_hat = v / (1 - beta2 ** (t + shift)) if correct_second else v
        denominator = torch.sqrt(v_hat + eps) if eps_inside else torch.sqrt(v_hat) + eps
        return theta - lr * m_hat / denominator, m, v
    return step


_ADAM_MISTAKES = (
    (_adam_variant(correct_first=False, correct_second=False),
     "the bias correction is missing: divide m by (1 - beta1**t) and v by (1 - beta2**t) before the step."),
    (_adam_variant(correct_first=False),
     "m is not bias-corrected: m_hat = m / (1 - beta1**t)."),
    (_adam_variant(correct_second=False),
     "v is not bias-corrected: v_hat = v / (1 - beta2**t)."),
    (_adam_variant(eps_inside=True),
     "eps is inside the square root: the step is lr * m_hat / (sqrt(v_hat) + eps)."),
    (_adam_variant(shift=-1),
     "t is counted from 0: t is the number of the step, 1 on the first call, and the corrections use beta**t."),
    (_adam_variant(shift=1),
     "the correction uses beta**(t + 1): t is already the number of the step (1 on the first call)."),
    (_adam_variant(square=False),
     "the second moment averages the gradient, not its square: v <- beta2 * v + (1 - beta2) * grad**2."),
)


def _adam_reference(theta0, grad_fn, steps, lr, beta1, beta2, eps):
    """The iterates of ``torch.optim.Adam`` on ``grad_fn``: a list of ``steps + 1`` parameter vectors."""
    parameter = torch.nn.Parameter(theta0.clone())
    optimizer = torch.optim.Adam([parameter], lr=lr, betas=(beta1, beta2), eps=eps)
    iterates = [theta0.clone()]
    for _ in range(steps):
        parameter.grad = grad_fn(parameter.detach())
        optimizer.step()
        iterates.append(parameter.detach().clone())
    return iterates


def check_adam_update(adam_step) -> ExerciseResult:
    """Check ``adam_step(theta, grad, m, v, t, lr, beta1, beta2, eps) -> (theta, m, v)``.

    ``t`` is the number of the step, 1 on the first call; ``m`` and ``v`` start at zero. Fifty steps on
    each of three random float64 quadratics with different ``(lr, beta1, beta2, eps)``, compared with
    ``torch.optim.Adam`` to ``1e-9`` relative; one setting has a large ``eps``, so that its place shows.
    """
    require_function(adam_step, "adam_step")
    settings = ((0.1, 0.9, 0.999, 1e-8, 3, 0), (0.05, 0.8, 0.99, 1e-2, 5, 1), (0.02, 0.5, 0.9, 1e-1, 4, 2))
    for case, (lr, beta1, beta2, eps, dimension, seed) in enumerate(settings, 1):
        grad_fn, generator = _quadratic(dimension, 10 + seed)
        theta0 = torch.randn(dimension, generator=generator, dtype=_DTYPE)
        reference = _adam_reference(theta0, grad_fn, 50, lr, beta1, beta2, eps)
        theta, m, v = theta0.clone(), torch.zeros(dimension, dtype=_DTYPE), torch.zeros(dimension, dtype=_DTYPE)
        for t in range(1, 51):
            grad = grad_fn(theta)
            where = (f"step t={t} of test case {case} (lr={lr}, betas=({beta1}, {beta2}), eps={eps}, "
                     f"{dimension}-D quadratic)")
            args = (theta.clone(), grad.clone(), m.clone(), v.clone(), t, lr, beta1, beta2, eps)
            answer, failure = call_answer(adam_step, args, where)
            if failure is not None:
                return failure
            got, failure = _unpack(answer, ("theta", "m", "v"))
            if failure is not None:
                return failure
            # the reference moments, from the reader's state, so the messages point at the first wrong step
            expected_m = beta1 * m + (1 - beta1) * grad
            expected_v = beta2 * v + (1 - beta2) * grad * grad
            checks = (("theta", got[0], reference[t]), ("m", got[1], expected_m), ("v", got[2], expected_v))
            if not _same(got, (reference[t], expected_m, expected_v)):
                hint = _diagnose(got, _ADAM_MISTAKES, args)
                if hint is None:
                    hint = ("m <- beta1 m + (1-beta1) g; v <- beta2 v + (1-beta2) g^2; m_hat = m/(1-beta1**t); "
                            "v_hat = v/(1-beta2**t); theta <- theta - lr m_hat/(sqrt(v_hat) + eps).")
                for name, g, e in checks:
                    result = check_close(g, e, f"{name} at {where}", rtol=1e-9, atol=1e-12, hint=hint)
                    if not result.passed:
                        return result
                return ExerciseResult(False, f"{where}: the answer does not match the reference. {hint}")
            theta, m, v = got
    return ExerciseResult(True, "your Adam step matches torch.optim.Adam over 50 steps on each of 3 random "
                                "quadratics, a large eps included.")
