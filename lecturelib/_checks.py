"""Argument checks, written once and NaN-safe, for lecturelib's public entry points.

Every check names the argument, shows the value it got and says what is accepted, and raises
``TypeError`` for a value of the wrong kind and ``ValueError`` for a value of the right kind
outside what is accepted. Each returns the value in its plain form (``int``, ``float``), so a
caller can write ``lr = check_positive("lr", lr)``.

Comparisons are written so that NaN fails them: ``not value > 0`` is true for NaN, whereas
``value <= 0`` is false and would let NaN through. Public functions validate their arguments
once, at the edge; private helpers trust their callers.
"""

from __future__ import annotations

import math
import numbers
from typing import Iterable

import torch
from torch import nn

__all__ = ["check_type", "check_int", "check_real", "check_positive", "check_nonnegative",
           "check_fraction", "check_probability", "check_seed", "check_choice", "check_callable",
           "check_module", "check_tensor", "check_finite_tensor", "check_labels", "check_same_rows",
           "check_targets", "check_input_dtype"]


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _kind(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(getattr(t, "__name__", str(t)) for t in types)


def check_type(name: str, value, types, what: str | None = None):
    """``value`` is an instance of ``types`` (a type or tuple of types), else ``TypeError``."""
    if not isinstance(value, types):
        raise TypeError(f"{name} must be {what or 'a ' + _kind(types)}, got {type(value).__name__} ({_show(value)})")
    return value


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (``bool`` refused) with ``minimum <= value <= maximum``; returns ``int(value)``."""
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({_show(value)})")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an int {_range_text(minimum, maximum, False, False)}, got {value}")
    return value


def _range_text(minimum, maximum, open_min, open_max) -> str:
    parts = []
    if minimum is not None:
        parts.append(f"{'>' if open_min else '>='} {minimum}")
    if maximum is not None:
        parts.append(f"{'<' if open_max else '<='} {maximum}")
    return " and ".join(parts) if parts else "(any)"


def check_real(name: str, value, minimum: float | None = None, maximum: float | None = None,
               open_min: bool = False, open_max: bool = False) -> float:
    """A finite real number (``bool`` refused; NaN and infinities refused) within the bounds.

    ``open_min``/``open_max`` make a bound strict. Returns ``float(value)``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} ({_show(value)})")
    value = float(value)
    bounds = _range_text(minimum, maximum, open_min, open_max)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number{'' if bounds == '(any)' else ' ' + bounds}, got {value}")
    low_ok = minimum is None or (value > minimum if open_min else value >= minimum)
    high_ok = maximum is None or (value < maximum if open_max else value <= maximum)
    if not (low_ok and high_ok):
        raise ValueError(f"{name} must be a finite number {bounds}, got {value!r}")
    return value


def check_positive(name: str, value) -> float:
    """A finite number ``> 0``."""
    return check_real(name, value, minimum=0.0, open_min=True)


def check_nonnegative(name: str, value) -> float:
    """A finite number ``>= 0``."""
    return check_real(name, value, minimum=0.0)


def check_fraction(name: str, value) -> float:
    """A number strictly between 0 and 1 (a share of a data set, say)."""
    return check_real(name, value, minimum=0.0, maximum=1.0, open_min=True, open_max=True)


def check_probability(name: str, value, allow_one: bool = True) -> float:
    """A probability in ``[0, 1]`` (``[0, 1)`` when ``allow_one`` is False)."""
    return check_real(name, value, minimum=0.0, maximum=1.0, open_max=not allow_one)


def check_seed(name: str, value) -> int:
    """A seed: an int in ``[0, 2**32)``."""
    return check_int(name, value, minimum=0, maximum=2**32 - 1)


def check_choice(name: str, value, choices: Iterable):
    """``value`` is one of ``choices`` (compared with ``==``), else ``ValueError`` listing them."""
    choices = tuple(choices)
    try:
        ok = value in choices
    except TypeError:  # an unhashable or incomparable value
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {_show(value)}")
    return value


def check_callable(name: str, value):
    """A callable, else ``TypeError``."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__} ({_show(value)})")
    return value


def check_module(name: str, value, trainable: bool = False) -> nn.Module:
    """A ``torch.nn.Module``; with ``trainable``, one with at least one parameter that needs a gradient."""
    if not isinstance(value, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(value).__name__}")
    if trainable and not any(p.requires_grad for p in value.parameters()):
        raise ValueError(f"{name} ({type(value).__name__}) has no trainable parameters")
    return value


def check_tensor(name: str, value, ndim: int | Iterable[int] | None = None, min_ndim: int | None = None,
                 shape: tuple | None = None, dtype: torch.dtype | None = None, floating: bool | None = None,
                 device: torch.device | str | None = None, finite: bool = False,
                 nonempty: bool = False) -> torch.Tensor:
    """A ``torch.Tensor`` with the given properties.

    ``shape`` may hold ``None`` for a free axis, e.g. ``(None, 64)``. ``floating=True`` asks for a
    floating dtype, ``floating=False`` for an integer one. ``finite`` refuses NaN and infinities.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.dim() not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, "
                             f"got shape {tuple(value.shape)}")
    if min_ndim is not None and value.dim() < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {tuple(value.shape)}")
    if shape is not None:
        fits = value.dim() == len(shape) and all(s is None or s == n for s, n in zip(shape, value.shape))
        if not fits:
            wanted = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {wanted}, got {tuple(value.shape)}")
    if nonempty and value.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(value.shape)}")
    if dtype is not None and value.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {value.dtype}")
    if floating is True and not torch.is_floating_point(value):
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if floating is False and (torch.is_floating_point(value) or torch.is_complex(value) or value.dtype == torch.bool):
        raise TypeError(f"{name} must be an integer tensor, got dtype {value.dtype}")
    if device is not None and value.device != torch.device(device):
        raise ValueError(f"{name} is on {value.device}, expected {torch.device(device)}")
    if finite:
        check_finite_tensor(name, value)
    return value


def check_finite_tensor(name: str, value: torch.Tensor) -> torch.Tensor:
    """Refuse a floating tensor holding NaN or an infinity, saying how many entries are bad."""
    if torch.is_floating_point(value) or torch.is_complex(value):
        bad = ~torch.isfinite(value)
        if bool(bad.any()):
            raise ValueError(f"{name} holds {int(bad.sum())} NaN or infinite entries "
                             f"(of {value.numel()}); clean the data first")
    return value


def check_labels(name: str, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Integer class labels ``0 <= y < n_classes`` (the model's output width)."""
    check_tensor(name, y, floating=False)
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"{name} holds labels in [{int(y.min())}, {int(y.max())}] but the model has "
                         f"{n_classes} outputs, so class labels must lie in [0, {n_classes - 1}]")
    return y


def check_same_rows(names: tuple[str, str], first: torch.Tensor, second: torch.Tensor) -> None:
    """Two tensors with one row each per sample."""
    if first.dim() == 0 or second.dim() == 0 or len(first) != len(second):
        raise ValueError(f"{names[1]} must have one entry per row of {names[0]} ({len(first) if first.dim() else 0}), "
                         f"got shape {tuple(second.shape)}")


def check_targets(name: str, y: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """Targets ``y`` (all rows) that fit a model's ``output`` (any number of rows) for the default losses.

    Integer targets are class labels for the output's columns (:func:`check_labels`). Float targets
    must have the output's shape per row: ``F.mse_loss`` would broadcast ``(N,)`` against ``(N, 1)``
    to an ``(N, N)`` loss and silently train on it.
    """
    if torch.is_floating_point(y):
        per_row, wanted = tuple(y.shape[1:]), tuple(output.shape[1:])
        if per_row != wanted:
            fix = f"{name}.reshape(-1, {', '.join(map(str, wanted))})" if wanted else f"{name}.reshape(-1)"
            raise ValueError(f"{name} has shape {tuple(y.shape)} but the model's outputs have shape "
                             f"{(len(y),) + wanted}; the squared error would broadcast them against each other. "
                             f"Give targets the outputs' shape, e.g. {fix}")
    elif output.dim() == 2:
        check_labels(name, y, output.shape[1])
    return y


_DTYPE_METHODS = {torch.float64: "double()", torch.float32: "float()", torch.float16: "half()",
                  torch.bfloat16: "bfloat16()"}


def check_input_dtype(name: str, X: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """A floating ``X`` has the dtype of ``model``'s floating parameters, else ``TypeError`` naming the fix."""
    wanted = next((p.dtype for p in model.parameters() if torch.is_floating_point(p)), None)
    if wanted is not None and torch.is_floating_point(X) and X.dtype != wanted:
        to_x = _DTYPE_METHODS.get(wanted, f"to({wanted})")
        to_model = _DTYPE_METHODS.get(X.dtype, f"to({X.dtype})")
        raise TypeError(f"{name} has dtype {X.dtype} but the model's parameters are {wanted}; convert one of "
                        f"them: {name}.{to_x} or model.{to_model}")
    return X
