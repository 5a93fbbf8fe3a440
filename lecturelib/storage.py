"""Checksummed, atomic files in lecturelib's cache folder.

Every cached object (a trained model, a generated data set) is stored as

    b"lecturelib-v1 " + sha256(payload).hexdigest() + b"\\n" + payload

and written to a temporary file in the same folder that is then renamed over the target, so a
reader sees either the old file or the complete new one. A file whose digest does not match
its payload (truncated, or corrupted on disk) raises :class:`CorruptCacheError`.

The folder is ``LECTURELIB_CACHE`` if set, else ``~/.cache/lecturelib``.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path

import torch

__all__ = ["CorruptCacheError", "cache_dir", "write_checked", "read_checked", "save_tensors", "load_tensors"]

_MAGIC = b"lecturelib-v1 "


class CorruptCacheError(RuntimeError):
    """A cache file exists but its contents fail the integrity check."""


def cache_dir() -> Path:
    """Folder for cached files: ``$LECTURELIB_CACHE`` or ``~/.cache/lecturelib`` (created)."""
    root = os.environ.get("LECTURELIB_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "lecturelib")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_checked(path: str | os.PathLike, payload: bytes) -> Path:
    """Atomically write ``payload`` with a sha256 header to ``path``."""
    if not isinstance(payload, (bytes, bytearray)):
        raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(payload).hexdigest().encode()
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(_MAGIC + digest + b"\n" + bytes(payload))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_checked(path: str | os.PathLike) -> bytes:
    """Return the payload of a file written by :func:`write_checked`.

    Raises ``FileNotFoundError`` if the file is missing and :class:`CorruptCacheError` if its
    header is malformed or the digest does not match.
    """
    path = Path(path)
    raw = path.read_bytes()
    header_end = raw.find(b"\n")
    if not raw.startswith(_MAGIC) or header_end != len(_MAGIC) + 64:
        raise CorruptCacheError(f"{path}: not a lecturelib cache file (bad header)")
    digest, payload = raw[len(_MAGIC):header_end], raw[header_end + 1:]
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        raise CorruptCacheError(f"{path}: checksum mismatch (file truncated or corrupted)")
    return payload


def save_tensors(path: str | os.PathLike, obj) -> Path:
    """Serialise ``obj`` (tensors, dicts, lists, numbers, strings) with ``torch.save`` and write it checked."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return write_checked(path, buffer.getvalue())


def load_tensors(path: str | os.PathLike):
    """Inverse of :func:`save_tensors`; loads with ``weights_only=True`` (no arbitrary code)."""
    payload = read_checked(path)
    try:
        buffer = io.BytesIO(payload)
        return torch.load(buffer, weights_only=True, map_location="cpu")
    except Exception as error:  # a payload that passes the digest but is not a torch file
        raise CorruptCacheError(f"{path}: payload is not loadable ({error})") from error
