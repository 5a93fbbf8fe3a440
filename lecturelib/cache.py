"""A disk cache of trained models, so a chapter re-runs in seconds once its models exist.

A run is identified by a name and a configuration dict (everything that determines the result:
widths, activation, learning rate, epochs, seed, ...). The file name carries a hash of that
configuration, the lecturelib version, lecturelib's source code and the torch version, so
changing any of them trains afresh. Files are written atomically with a checksum (:mod:`lecturelib.storage`) and loaded with
``torch.load(..., weights_only=True)``. A corrupted or truncated file, or one whose contents do
not fit the model, is reported with a warning, deleted and retrained.

Typical use::

    run = cached_fit("regression-78", config,
                     build=lambda: MLP([1, 5, 5, 5, 1, 1], "leaky_relu"),
                     train=lambda model: fit(model, data, lr=0.05, epochs=5000))
    run.model, run.history, run.from_cache
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from . import __version__, storage
from .train import History

__all__ = ["CachedRun", "config_key", "cache_path", "cached_fit", "clear_cache"]

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass
class CachedRun:
    """A trained model, its :class:`~lecturelib.train.History`, and whether it came from disk."""

    model: nn.Module
    history: History
    from_cache: bool


def _library_fingerprint() -> str:
    """sha256 of lecturelib's own source files: editing the library invalidates every cached run."""
    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(source.relative_to(Path(__file__).parent).as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def config_key(config: dict) -> str:
    """16 hex digits of sha256 over the JSON of ``config``, the lecturelib version, a fingerprint of
    lecturelib's source and the torch version."""
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    try:
        text = json.dumps({"config": config, "lecturelib": __version__, "source": _library_fingerprint(),
                           "torch": torch.__version__}, sort_keys=True)
    except TypeError as error:
        raise TypeError(f"config must hold only JSON values (numbers, strings, lists, dicts): {error}") from error
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_path(name: str, config: dict) -> Path:
    """Where the run ``name`` with ``config`` is stored."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"name must be a non-empty string of letters, digits, '_', '.', '-', got {name!r}")
    return storage.cache_dir() / "models" / f"{name}-{config_key(config)}.pt"


def _load(path: Path, model: nn.Module, config: dict) -> History:
    record = storage.load_tensors(path)
    if not isinstance(record, dict) or set(record) != {"config", "state_dict", "history"}:
        raise storage.CorruptCacheError(f"{path}: unexpected contents")
    if record["config"] != json.loads(json.dumps(config)):
        raise storage.CorruptCacheError(f"{path}: stored configuration differs from the requested one")
    try:
        model.load_state_dict(record["state_dict"])
        return History.from_dict(record["history"])
    except (RuntimeError, TypeError) as error:
        raise storage.CorruptCacheError(f"{path}: does not fit the model ({error})") from error


def cached_fit(name: str, config: dict, build: Callable[[], nn.Module],
               train: Callable[[nn.Module], History]) -> CachedRun:
    """Return the model trained by ``train(build())``, loading it from disk when cached.

    ``build`` must create the untrained model (seeded, so that it is reproducible) and ``train``
    must train it in place and return its :class:`History`. The model is returned on the CPU in
    evaluation mode either way, so cached and fresh runs behave identically.
    """
    if not callable(build) or not callable(train):
        raise TypeError("build and train must be callables: build() -> model, train(model) -> History")
    path = cache_path(name, config)
    model = build()
    if not isinstance(model, nn.Module):
        raise TypeError(f"build() must return a torch.nn.Module, got {type(model).__name__}")
    if path.exists():
        try:
            history = _load(path, model, config)
            return CachedRun(model.cpu().eval(), history, True)
        except storage.CorruptCacheError as error:
            warnings.warn(f"corrupted model cache, retraining: {error}", stacklevel=2)
            path.unlink(missing_ok=True)
            model = build()
    history = train(model)
    if not isinstance(history, History):
        raise TypeError(f"train(model) must return a lecturelib.train.History, got {type(history).__name__}")
    model = model.cpu().eval()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    storage.save_tensors(path, {"config": json.loads(json.dumps(config)), "state_dict": state,
                                "history": history.to_dict()})
    return CachedRun(model, history, False)


def clear_cache(name: str | None = None) -> int:
    """Delete cached models (all, or those of run ``name``); returns how many files went."""
    folder = storage.cache_dir() / "models"
    if name is not None and (not isinstance(name, str) or not _NAME.match(name)):
        raise ValueError(f"name must be a run name of letters, digits, '_', '.', '-', got {name!r}")
    pattern = f"{name}-*.pt" if name else "*.pt"
    files = list(folder.glob(pattern)) if folder.exists() else []
    for file in files:
        file.unlink()
    return len(files)
