"""The parts of a run's cache key: data fingerprints, descriptions of a run's fields, and the
lecturelib modules a run uses (see :mod:`lecturelib.cache.spec` for the key itself).

    data_fingerprint(data) = sha256 over every tensor in ``data``, in order: its dtype, its shape
                             and its raw bytes (a contiguous CPU copy), with the nesting of
                             tuples, lists and dicts (keys sorted) and ``None`` entries
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import math
import re
from pathlib import Path

import torch
from torch import nn

from ..data import DataSplit

__all__ = ["data_fingerprint", "describe", "check_run_name", "import_closure", "module_file"]

NAME_BODY = r"[A-Za-z0-9_.-]+"
_NAME = re.compile(NAME_BODY)
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # .../lecturelib


def check_run_name(name) -> str:
    """A run's name becomes a file-name stem: letters, digits, ``_``, ``.``, ``-``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):  # not match(): "$" lets "run\n" through
        raise ValueError(f"name must be a non-empty string of letters, digits, '_', '.', '-', got {name!r}")
    return name


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


def describe(value, where: str, modules: set) -> object:
    """A JSON description of ``value`` for the cache key; adds the lecturelib modules it uses to
    ``modules``. Raises ``TypeError`` naming ``where`` for what cannot be described."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (tuple, list)):
        return [describe(item, f"{where}[{i}]", modules) for i, item in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError(f"{where} has a key that is not a string; describable dicts have string keys")
        return {key: describe(item, f"{where}[{key!r}]", modules) for key, item in sorted(value.items())}
    if isinstance(value, (torch.dtype, torch.device)):
        return str(value)
    if isinstance(value, (torch.Tensor, DataSplit)):
        return {"tensor": data_fingerprint(value)}
    if isinstance(value, nn.Module):
        _note_module(type(value), modules)
        return {"module": _qualified(type(value)), "state": data_fingerprint(dict(value.state_dict()))}
    if isinstance(value, functools.partial):
        return {"partial": describe(value.func, f"{where}.func", modules),
                "args": describe(list(value.args), f"{where}.args", modules),
                "kwargs": describe(dict(value.keywords), f"{where}.keywords", modules)}
    if inspect.ismethod(value):
        return {"method": value.__func__.__name__, "of": describe(value.__self__, f"{where}.__self__", modules)}
    if inspect.isfunction(value) or inspect.isclass(value) or inspect.isbuiltin(value):
        return _describe_definition(value, where, modules)
    if callable(getattr(value, "describe", None)):
        _note_module(type(value), modules)
        return {"object": _qualified(type(value)), "state": describe(value.describe(), f"{where}.describe()", modules)}
    raise TypeError(f"{where} is a {type(value).__name__} ({value!r:.60}), which a run's key cannot describe; use "
                    "numbers, strings, tensors, modules, module-level functions, functools.partial, or an "
                    "object with a describe() -> dict method")


def _describe_definition(value, where, modules):
    qualname = getattr(value, "__qualname__", getattr(value, "__name__", ""))
    if "<lambda>" in qualname or "<locals>" in qualname:
        raise TypeError(f"{where} is {'a lambda' if '<lambda>' in qualname else 'a closure'} ({qualname}); a run's "
                        "key cannot tell two of them apart: define it at module level (in lecturelib.experiments."
                        "<chapter>, or in the notebook) or use functools.partial")
    module = getattr(value, "__module__", None) or ""
    if module == "lecturelib" or module.startswith("lecturelib."):
        _note_module(value, modules)
        return {"function": f"{module}.{qualname}"}
    if module in ("__main__", "") or module.startswith("__main__"):  # defined in a notebook: key by its code
        try:
            source = inspect.getsource(value)
        except (OSError, TypeError) as error:
            raise TypeError(f"{where} ({qualname}) has no source to key it by; define it in a module") from error
        return {"function": qualname, "source": hashlib.sha256(source.encode()).hexdigest()}
    return {"function": f"{module}.{qualname}"}  # torch and the like: the torch version is in the key


def _qualified(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _note_module(definition, modules: set) -> None:
    module = getattr(definition, "__module__", "") or ""
    if module == "lecturelib" or module.startswith("lecturelib."):
        modules.add(module)


def module_file(module: str) -> Path:
    """The source file of the lecturelib module ``module`` (a package's ``__init__.py``)."""
    base = _PACKAGE_ROOT.joinpath(*module.split(".")[1:])
    package = base / "__init__.py"
    return package if package.is_file() else base.with_suffix(".py")


@functools.lru_cache(maxsize=None)
def _direct_imports(module: str) -> frozenset:
    """The lecturelib modules that ``module``'s source imports anywhere (top level or lazily)."""
    path = module_file(module)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "lecturelib")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != "lecturelib":
                continue
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from . import storage`
    return frozenset(name for name in found if module_file(name).is_file())


def import_closure(modules: set) -> set:
    seen, todo = set(), list(modules)
    while todo:
        module = todo.pop()
        if module in seen or not module_file(module).is_file():
            continue
        seen.add(module)
        todo.extend(_direct_imports(module))
    return seen
