"""A disk cache of trained models, so a chapter re-runs in seconds once its models exist.

A run is identified by a name, a configuration dict (everything that determines the result:
widths, activation, learning rate, epochs, seed, ...) and the data it trains on. It is stored in
``<cache>/models/{name}-{key}.pt`` with

    key = sha256(JSON(config, data_fingerprint(data), lecturelib version,
                      sha256(lecturelib's source), torch version))[:16]
    data_fingerprint(data) = sha256 over every tensor in ``data``, in order: its dtype, its shape
                             and its raw bytes (a contiguous CPU copy), with the nesting of
                             tuples, lists and dicts (keys sorted) and ``None`` entries

so changing any of them, the data included, trains afresh. The record stores the config and the
data fingerprint and both are compared at load. Files are written atomically with a checksum
and loaded with ``torch.load(..., weights_only=True)`` (:mod:`lecturelib.storage`). A corrupted
or truncated file, one made from other data, or one whose contents do not fit the model is
reported with a warning, deleted and retrained. A cache that cannot keep the run (read-only
folder, a directory where the file belongs) never loses it: the run trains, a warning says
the result is not kept, and the model is returned; directories are never removed.

Typical use::

    run = cached_fit("regression-78", config,
                     build=lambda: MLP([1, 5, 5, 5, 1, 1], "leaky_relu"),
                     train=lambda model: fit(model, split, lr=0.05, epochs=5000), data=split)
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
from ._checks import check_type
from .data import DataSplit
from .train import History

__all__ = ["CachedRun", "config_key", "data_fingerprint", "cache_path", "cached_fit", "clear_cache"]

_NAME_BODY = r"[A-Za-z0-9_.-]+"
_NAME = re.compile(_NAME_BODY)
_KEY = r"[0-9a-f]{16}"


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


def _feed(digest, value, where: str) -> None:
    """Hash ``value`` into ``digest``: a tag for its kind, then its parts (see the module docstring)."""
    def tag(text: str):
        raw = text.encode()
        digest.update(len(raw).to_bytes(8, "big") + raw)

    if value is None:
        tag("none")
    elif isinstance(value, torch.Tensor):
        if value.layout != torch.strided:
            raise TypeError(f"data{where} is a {value.layout} tensor; pass a dense one")
        flat = value.detach().cpu().resolve_conj().resolve_neg().contiguous().reshape(-1)
        tag(f"tensor {flat.dtype} {tuple(value.shape)}")
        digest.update(flat.view(torch.uint8).numpy())
    elif isinstance(value, DataSplit):
        tag("split")
        for field in ("X_train", "y_train", "X_test", "y_test"):
            _feed(digest, getattr(value, field), f"{where}.{field}")
    elif isinstance(value, (tuple, list)):
        tag(f"sequence {len(value)}")
        for index, item in enumerate(value):
            _feed(digest, item, f"{where}[{index}]")
    elif isinstance(value, dict):
        bad = [key for key in value if not isinstance(key, str)]
        if bad:
            raise TypeError(f"data{where} has the key {bad[0]!r}; the keys of a dict in data must be strings")
        tag(f"dict {len(value)}")
        for key in sorted(value):
            tag(key)
            _feed(digest, value[key], f"{where}[{key!r}]")
    else:
        raise TypeError(f"data{where} is a {type(value).__name__}; data must be a DataSplit, a tensor, or "
                        "(nested) tuples, lists or dicts of tensors and None: what the run trains on")


def data_fingerprint(data) -> str:
    """sha256 (64 hex digits) over what a run trains on: a :class:`~lecturelib.data.DataSplit`, a
    tensor, or (nested) tuples, lists or dicts of tensors and ``None``. Every tensor contributes
    its dtype, shape and raw bytes, so any change of a value, a dtype or a shape changes it; the
    device and the memory layout do not."""
    digest = hashlib.sha256()
    _feed(digest, data, "")
    return digest.hexdigest()


def config_key(config: dict, data_digest: str = "") -> str:
    """16 hex digits of sha256 over the JSON of ``config``, ``data_digest`` (a
    :func:`data_fingerprint`), the lecturelib version, a fingerprint of lecturelib's source and
    the torch version."""
    check_type("config", config, dict)
    try:
        text = json.dumps({"config": config, "data": data_digest, "lecturelib": __version__,
                           "source": _library_fingerprint(), "torch": torch.__version__}, sort_keys=True)
    except TypeError as error:
        raise TypeError(f"config must hold only JSON values (numbers, strings, lists, dicts): {error}") from error
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_name(name) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):  # not match(): "$" lets "run\n" through
        raise ValueError(f"name must be a non-empty string of letters, digits, '_', '.', '-', got {name!r}")


def _path(name: str, config: dict, data_digest: str) -> Path:
    _check_name(name)
    return storage.cache_dir("models") / f"{name}-{config_key(config, data_digest)}.pt"


def cache_path(name: str, config: dict, *, data) -> Path:
    """Where the run ``name`` with ``config``, trained on ``data``, is stored."""
    return _path(name, config, data_fingerprint(data))


def _load(path: Path, model: nn.Module, config: dict, data_digest: str) -> History:
    record = storage.load_tensors(path)
    if not isinstance(record, dict) or set(record) != {"config", "data", "state_dict", "history"}:
        raise storage.CorruptCacheError(f"{path}: unexpected contents")
    if record["config"] != json.loads(json.dumps(config)):
        raise storage.CorruptCacheError(f"{path}: stored configuration differs from the requested one")
    if record["data"] != data_digest:
        raise storage.CorruptCacheError(f"{path}: trained on other data (stored data fingerprint differs)")
    try:
        model.load_state_dict(record["state_dict"])
        return History.from_dict(record["history"])
    except (RuntimeError, TypeError, KeyError, ValueError) as error:
        raise storage.CorruptCacheError(f"{path}: does not fit the model ({error})") from error


def cached_fit(name: str, config: dict, build: Callable[[], nn.Module],
               train: Callable[[nn.Module], History], *, data) -> CachedRun:
    """Return the model trained by ``train(build())``, loading it from disk when cached.

    ``build`` must create the untrained model (seeded, so that it is reproducible) and ``train``
    must train it in place and return its :class:`History`. ``data`` is what ``train`` trains on
    (a :class:`~lecturelib.data.DataSplit`, a tensor, or (nested) tuples, lists or dicts of
    tensors): it is part of the key, so changed data trains afresh. The model is returned on the
    CPU in evaluation mode either way, so cached and fresh runs behave identically.
    """
    if not callable(build) or not callable(train):
        raise TypeError("build and train must be callables: build() -> model, train(model) -> History")
    data_digest = data_fingerprint(data)
    path = _path(name, config, data_digest)
    model = build()
    if not isinstance(model, nn.Module):
        raise TypeError(f"build() must return a torch.nn.Module, got {type(model).__name__}")
    try:
        history = _load(path, model, config, data_digest)
        return CachedRun(model.cpu().eval(), history, True)
    except FileNotFoundError:
        pass
    except storage.CorruptCacheError as error:
        warnings.warn(f"corrupted model cache, retraining: {error}", stacklevel=2)
        storage.discard(path)  # a directory in its place stays; the run is then not kept
        model = build()
    history = train(model)
    if not isinstance(history, History):
        raise TypeError(f"train(model) must return a lecturelib.train.History, got {type(history).__name__}")
    model = model.cpu().eval()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    storage.save_if_writable(path, {"config": json.loads(json.dumps(config)), "data": data_digest,
                                    "state_dict": state, "history": history.to_dict()})
    return CachedRun(model, history, False)


def clear_cache(name: str | None = None) -> int:
    """Delete cached models: all, or exactly those of run ``name`` (files ``{name}-{16 hex}.pt``,
    so ``"faults"`` leaves ``"faults-extra"`` alone), with the temporary files killed writers left
    beside them. Returns how many models went."""
    if name is not None:
        _check_name(name)
    folder = storage.cache_dir("models")
    run = re.escape(name) if name is not None else _NAME_BODY
    pattern = re.compile(rf"(?:{run})-{_KEY}\.pt(?P<tmp>{storage.TEMP_SUFFIX})?")
    removed = 0
    for file in sorted(folder.iterdir()) if folder.is_dir() else []:
        match = pattern.fullmatch(file.name)
        if match and storage.discard(file) and not match["tmp"]:
            removed += 1
    return removed
