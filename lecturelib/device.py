"""Where computations run, how big experiments are, and how runs are made repeatable.

Three environment variables steer every chapter:

* ``LECTURELIB_DEVICE``: ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; unset means "the best there is".
* ``LECTURELIB_SCALE``: ``small`` (default; every notebook runs in under a minute on a laptop CPU)
  or ``full`` (the papers' settings; wants a GPU and, for some chapters, real data).
* ``LECTURELIB_PROGRESS``: ``0`` hides progress bars (the book build and the tests set it).

The one device rule, which every module follows:

* **Training** (:func:`lecturelib.train.fit` and the cache) runs on ``device=`` if given, else on
  :func:`get_device`; a cached run is handed back on the device it trained on, which is the
  device it will be used on.
* **Analysis** (curvature, landscapes, paths, statistics) runs where the model is, unless
  ``device=`` is given: :func:`model_device` says where that is. Inputs are moved to the model,
  never the model to the inputs.
* No function changes global torch state (threads, denormal flushing, default dtype) without
  restoring it: :func:`preserved_torch_state` does the restoring.
"""

from __future__ import annotations

import contextlib
import os
import random
import re

import numpy as np
import torch

from ._checks import check_seed

__all__ = ["get_device", "resolve_device", "model_device", "preserved_torch_state", "flushes_denormals", "seed_everything", "get_scale", "progress_enabled", "is_full_scale"]

_DEVICE_PATTERN = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")
SCALES = ("small", "full")


def get_device() -> torch.device:
    """Return the device experiments run on: CUDA, then Apple MPS, then the CPU.

    ``LECTURELIB_DEVICE`` overrides the choice. A value that is not a device name raises
    ``ValueError``; a device this machine lacks raises ``RuntimeError``.
    """
    requested = os.environ.get("LECTURELIB_DEVICE", "").strip().lower()
    if requested:
        return _checked_device(requested, "LECTURELIB_DEVICE", "or leave it unset to pick automatically")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(device=None) -> torch.device:
    """``device`` (a name such as ``"cuda:1"`` or a ``torch.device``) checked to exist on this machine;
    ``None`` gives :func:`get_device`. Raises as :func:`get_device` does for ``LECTURELIB_DEVICE``."""
    if device is None:
        return get_device()
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a name such as 'cpu' or 'cuda', a torch.device or None, "
                        f"got {type(device).__name__} ({device!r})")
    return _checked_device(str(device).strip().lower(), "device", "or None for the default")


def model_device(model: torch.nn.Module, device=None) -> torch.device:
    """Where analysis of ``model`` runs: ``device`` if given (checked as :func:`resolve_device`
    does), else the device of the model's first parameter or buffer, else the CPU."""
    if device is not None:
        return resolve_device(device)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


@contextlib.contextmanager
def preserved_torch_state():
    """Run a block and restore what it may change of torch's global state afterwards: the number
    of intra-op threads, denormal flushing and the default dtype."""
    threads, dtype, flushing = torch.get_num_threads(), torch.get_default_dtype(), flushes_denormals()
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.set_default_dtype(dtype)
        torch.set_flush_denormal(flushing)


def flushes_denormals() -> bool:
    """Whether the CPU currently flushes float32 denormals to zero (``torch.set_flush_denormal``
    has no getter: a denormal times one reads back as zero when it does)."""
    tiny = torch.tensor([1e-40], dtype=torch.float32)  # below float32's smallest normal, 1.2e-38
    return bool((tiny * 1.0)[0] == 0)


def _checked_device(requested: str, source: str, default: str) -> torch.device:
    if not _DEVICE_PATTERN.match(requested):
        raise ValueError(f"{source}={requested!r} is not a device name; use 'cpu', 'cuda', 'cuda:N' or 'mps', {default}")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"{source}={requested!r} but torch sees no CUDA device")
    if requested == "mps" and not _mps_available():
        raise RuntimeError(f"{source}='mps' but torch sees no Apple MPS device")
    return torch.device(requested)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def seed_everything(seed: int) -> int:
    """Seed Python's ``random``, NumPy and torch (CPU and CUDA) with ``seed`` and return it."""
    seed = check_seed("seed", seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def get_scale() -> str:
    """Return ``'small'`` (default) or ``'full'`` from ``LECTURELIB_SCALE``."""
    scale = os.environ.get("LECTURELIB_SCALE", "small").strip().lower() or "small"
    if scale not in SCALES:
        raise ValueError(f"LECTURELIB_SCALE={scale!r} is not a scale; use one of {SCALES}")
    return scale


def is_full_scale() -> bool:
    """True when ``LECTURELIB_SCALE=full``: run the paper-scale version of an experiment."""
    return get_scale() == "full"


def progress_enabled() -> bool:
    """False when ``LECTURELIB_PROGRESS`` is ``0``/``false``/``no``: progress bars stay hidden."""
    value = os.environ.get("LECTURELIB_PROGRESS", "1").strip().lower()
    return value not in ("0", "false", "no", "off")
