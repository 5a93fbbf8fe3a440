"""Answer checkers for the book's exercises.

A checker compares a reader's answer with a trusted reference and returns an
:class:`ExerciseResult`, whose text says what is right or, when it is wrong, what to look at.
It never raises for a wrong answer (a notebook keeps running), but it does raise ``TypeError``
for a checker called the wrong way. Chapter-specific checkers live in submodules named after
the chapter, e.g. :mod:`lecturelib.exercises.activations`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["ExerciseResult", "check_close", "check_function", "require_function", "call_answer", "answer_tensor"]


@dataclass(frozen=True)
class ExerciseResult:
    """``passed`` and a message; prints as the message, so a notebook cell shows the verdict."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return ("Correct: " if self.passed else "Not yet: ") + self.message


def require_function(answer, name: str = "the answer") -> None:
    """A checker called with something other than a function is misused: ``TypeError`` naming ``name``."""
    if not callable(answer):
        raise TypeError(f"{name} must be a function, got {type(answer).__name__}")


def call_answer(answer, args: tuple, what: str):
    """``(answer(*args), None)``, or ``(None, failure)`` when the reader's function raised: the failed
    :class:`ExerciseResult` says what was being checked and what was raised, so the notebook keeps running."""
    try:
        return answer(*args), None
    except Exception as error:  # the reader's code failed: say how, keep the notebook running
        return None, ExerciseResult(False, f"{what}: your function raised {type(error).__name__}: {error}")


def answer_tensor(value) -> torch.Tensor | None:
    """A reader's return value as a float64 tensor (a detached copy), or ``None`` when it is not numeric."""
    try:
        if isinstance(value, torch.Tensor):
            return value.detach().to(torch.float64).clone()
        return torch.as_tensor(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        return None


def _as_array(value, name):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a number, array or tensor, got {type(value).__name__}") from error


def check_close(answer, expected, what: str, rtol: float = 1e-6, atol: float = 1e-9, hint: str = "") -> ExerciseResult:
    """Compare ``answer`` with ``expected`` element-wise: ``|a - e| <= atol + rtol |e|``.

    The message names ``what`` was checked, and on failure the shape mismatch or the largest
    deviation, followed by ``hint``.
    """
    if answer is None:
        return ExerciseResult(False, f"{what}: the answer is None; did the function forget to `return`? {hint}".strip())
    a, e = _as_array(answer, "answer"), _as_array(expected, "expected")
    if a.shape != e.shape:
        return ExerciseResult(False, f"{what}: expected shape {e.shape}, got {a.shape}. {hint}".strip())
    if not np.all(np.isfinite(a)):
        return ExerciseResult(False, f"{what}: the answer contains NaN or inf. {hint}".strip())
    error = np.abs(a - e)
    bound = atol + rtol * np.abs(e)
    if np.all(error <= bound):
        return ExerciseResult(True, f"{what} matches the reference (max abs error {error.max(initial=0):.2e}).")
    worst = np.unravel_index(np.argmax(error - bound), e.shape) if e.shape else ()
    where = f" at index {tuple(int(i) for i in worst)}" if e.shape else ""
    return ExerciseResult(False, f"{what}: off by {error[worst]:.3g}{where} (expected {e[worst]:.6g}, "
                                 f"got {a[worst]:.6g}). {hint}".strip())


def check_function(candidate, reference, inputs, what: str, rtol: float = 1e-6, atol: float = 1e-9,
                   hint: str = "") -> ExerciseResult:
    """Call ``candidate(*args)`` and ``reference(*args)`` on every ``args`` tuple in ``inputs`` and
    compare the results with :func:`check_close`; reports the first failing input."""
    require_function(candidate)
    if not callable(reference):
        raise TypeError(f"reference must be callable, got {type(reference).__name__}")
    inputs = list(inputs)
    if not inputs:
        raise ValueError("inputs must hold at least one argument tuple")
    for number, args in enumerate(inputs, 1):
        args = args if isinstance(args, tuple) else (args,)
        try:
            got = candidate(*args)
        except Exception as error:  # the reader's code failed: say how, do not crash the notebook
            return ExerciseResult(False, f"{what}: calling your function on test case {number} raised "
                                         f"{type(error).__name__}: {error}. {hint}".strip())
        result = check_close(got, reference(*args), f"{what} (test case {number})", rtol, atol, hint)
        if not result.passed:
            return result
    return ExerciseResult(True, f"{what} agrees with the reference on all {len(inputs)} test cases.")
