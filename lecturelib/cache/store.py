"""A disk cache of trained models, so a chapter re-runs in seconds once its models exist.

A run is described by a :class:`~lecturelib.cache.spec.RunSpec` and stored in
``<cache>/models/{name}-{key}.pt``, its key being sha256 over the run's description, the data
fingerprint, the source of the modules the run uses and the torch version (see
:mod:`lecturelib.cache.spec`). The record stores the description and the data fingerprint, and
both are compared at load. Files are written atomically with a checksum and loaded with
``torch.load(..., weights_only=True)`` (:mod:`lecturelib.storage`). A corrupted or truncated
file, one made from other data, or one whose contents do not fit the model is reported with a
warning, deleted and retrained. A cache that cannot keep the run (read-only folder, a directory
where the file belongs) never loses it: the run trains, a warning says the result is not kept,
and the model is returned; directories are never removed.

Typical use::

    run = cached_run(RunSpec("landscape-regression", split, partial(MLP, [1, 5, 5, 5, 1, 1], "leaky_relu"),
                             optimizer="adam", lr=0.01, epochs=1500, eval_every=500))
    run.model, run.history, run.from_cache
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .. import storage
from .._checks import check_type
from ..train import History
from .keys import NAME_BODY, check_run_name, data_fingerprint
from .spec import RunSpec

__all__ = ["CachedRun", "run_key", "cache_path", "cached_run", "clear_cache"]

_KEY = r"[0-9a-f]{16}"


@dataclass
class CachedRun:
    """A trained model, its :class:`~lecturelib.train.History`, and whether it came from disk."""

    model: nn.Module
    history: History
    from_cache: bool


def _record_key(spec: RunSpec, data_digest: str) -> tuple[dict, str]:
    description = spec.describe()
    text = json.dumps({"run": description, "data": data_digest, "source": spec.source_fingerprint(),
                       "torch": torch.__version__}, sort_keys=True)
    return description, hashlib.sha256(text.encode()).hexdigest()[:16]


def run_key(spec: RunSpec) -> str:
    """16 hex digits naming the run ``spec`` on disk (see :mod:`lecturelib.cache.spec`)."""
    check_type("spec", spec, RunSpec, "a lecturelib.cache.RunSpec")
    return _record_key(spec, data_fingerprint(spec.data))[1]


def cache_path(spec: RunSpec) -> Path:
    """Where the run ``spec`` is stored."""
    return storage.cache_dir("models") / f"{spec.name}-{run_key(spec)}.pt"


def _load(path: Path, model: nn.Module, description: dict, data_digest: str) -> History:
    record = storage.load_tensors(path)
    if not isinstance(record, dict) or set(record) != {"run", "data", "state_dict", "history"}:
        raise storage.CorruptCacheError(f"{path}: unexpected contents")
    if record["run"] != json.loads(json.dumps(description)):
        raise storage.CorruptCacheError(f"{path}: stored run description differs from the requested one")
    if record["data"] != data_digest:
        raise storage.CorruptCacheError(f"{path}: trained on other data (stored data fingerprint differs)")
    try:
        model.load_state_dict(record["state_dict"])
        return History.from_dict(record["history"])
    except (RuntimeError, TypeError, KeyError, ValueError) as error:
        raise storage.CorruptCacheError(f"{path}: does not fit the model ({error})") from error


def cached_run(spec: RunSpec) -> CachedRun:
    """The model that ``spec`` trains, loaded from disk when cached, and its History.

    The model is handed back in evaluation mode on the device it trains on
    (:meth:`RunSpec.train_device`), whether it was trained now or loaded, so both behave the same.
    """
    check_type("spec", spec, RunSpec, "a lecturelib.cache.RunSpec")
    data_digest = data_fingerprint(spec.data)
    description, key = _record_key(spec, data_digest)
    path = storage.cache_dir("models") / f"{spec.name}-{key}.pt"
    where = spec.train_device()
    model = spec.build()
    try:
        history = _load(path, model, description, data_digest)
        return CachedRun(model.to(where).eval(), history, True)
    except FileNotFoundError:
        pass
    except storage.CorruptCacheError as error:
        warnings.warn(f"corrupted model cache, retraining: {error}", stacklevel=2)
        storage.discard(path)  # a directory in its place stays; the run is then not kept
        model = spec.build()
    history = spec.train(model)
    model = model.to(where).eval()
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    storage.save_if_writable(path, {"run": json.loads(json.dumps(description)), "data": data_digest,
                                    "state_dict": state, "history": history.to_dict()})
    return CachedRun(model, history, False)


def clear_cache(name: str | None = None) -> int:
    """Delete cached models: all, or exactly those of run ``name`` (files ``{name}-{16 hex}.pt``,
    so ``"faults"`` leaves ``"faults-extra"`` alone), with the temporary files killed writers left
    beside them. Returns how many models went."""
    if name is not None:
        check_run_name(name)
    folder = storage.cache_dir("models")
    run = re.escape(name) if name is not None else NAME_BODY
    pattern = re.compile(rf"(?:{run})-{_KEY}\.pt(?P<tmp>{storage.TEMP_SUFFIX})?")
    removed = 0
    for file in sorted(folder.iterdir()) if folder.is_dir() else []:
        match = pattern.fullmatch(file.name)
        if match and storage.discard(file) and not match["tmp"]:
            removed += 1
    return removed
