"""Checksummed, atomic files in lecturelib's cache folder.

Every cached object (a trained model, a generated data set) is stored as

    b"lecturelib-v1 " + sha256(payload).hexdigest() + b"\\n" + payload

and written to a temporary ``<target>.<16 hex>.tmp`` in the same folder that is then renamed over
the target, so a reader sees either the old file or the complete new one. A file whose digest
does not match its payload (truncated, or corrupted on disk), or that cannot be read at all (a
directory in its place), raises :class:`CorruptCacheError`. Payloads are loaded with
``torch.load(..., weights_only=True)``: tensors and plain containers, never code.

Rules for the folder, so that a cache never loses work:

* The folder is ``$LECTURELIB_CACHE`` (``~`` expanded) if set, else ``~/.cache/lecturelib``. A
  regular file where it (or one of its subfolders) should be is a ``NotADirectoryError`` naming
  ``LECTURELIB_CACHE``, raised by :func:`cache_dir` before any work is done.
* A folder that cannot be written (read-only, full) or a directory where a cache file should
  be: :func:`save_if_writable` warns once per folder and process that results are not kept,
  and the caller returns its result anyway. Directories and foreign files are never removed.
* Files are created with mode ``0o644`` minus the umask, as other caches are, so one folder can
  be shared by a class (``tempfile.mkstemp`` would make them ``0o600``).
* A temporary file older than :data:`STALE_SECONDS` is the leftover of a killed writer: the
  next write of the same target removes it.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import os
import re
import secrets
import time
import warnings
from pathlib import Path

import torch

__all__ = ["CorruptCacheError", "STALE_SECONDS", "TEMP_SUFFIX", "cache_dir", "write_checked", "read_checked",
           "save_tensors", "load_tensors", "save_if_writable", "discard", "temporaries"]

_MAGIC = b"lecturelib-v1 "
STALE_SECONDS = 600
"""A temporary file this many seconds old belongs to a writer that was killed."""
TEMP_SUFFIX = r"\.[0-9a-z_]{8,}\.tmp"
"""What follows the target's name in a temporary file's name (ours: 16 hex; ``mkstemp``'s: 8 chars)."""
_unwritable: set[str] = set()  # folders already warned about in this process


class CorruptCacheError(RuntimeError):
    """A cache file exists but its contents fail the integrity check."""


def cache_dir(sub: str | None = None) -> Path:
    """Folder for cached files: ``$LECTURELIB_CACHE`` (``~`` expanded) or ``~/.cache/lecturelib``,
    or its subfolder ``sub``; created when possible.

    A regular file in the way is a ``NotADirectoryError`` naming ``LECTURELIB_CACHE``. A folder
    that cannot be created (read-only parent) is returned all the same: reads find nothing
    there and :func:`save_if_writable` warns.
    """
    setting = os.environ.get("LECTURELIB_CACHE")
    root = Path(os.path.expanduser(setting)) if setting else Path(os.path.expanduser("~"), ".cache", "lecturelib")
    path = root / sub if sub else root
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), path)
        where = f"LECTURELIB_CACHE={setting!r}" if setting else "LECTURELIB_CACHE is unset and the default"
        raise NotADirectoryError(f"{where} cache folder {path} cannot be used: {blocker} is a file, not a "
                                 "folder. Remove it, or set LECTURELIB_CACHE to a folder.") from error
    except OSError:
        pass  # not creatable (read-only): nothing is cached there, and writes warn
    return path


def temporaries(path: str | os.PathLike) -> list[Path]:
    """The temporary files of writes to ``path``: ``<name>`` + :data:`TEMP_SUFFIX`, in its folder."""
    path = Path(path)
    candidates = path.parent.glob(glob.escape(path.name) + ".*.tmp")
    return sorted(c for c in candidates if re.fullmatch(TEMP_SUFFIX, c.name[len(path.name):]))


def write_checked(path: str | os.PathLike, payload: bytes) -> Path:
    """Atomically write ``payload`` with a sha256 header to ``path`` (mode ``0o644`` minus the umask).

    Temporaries of the same target older than :data:`STALE_SECONDS` are removed first. On any
    error the new temporary is removed and the error (an ``OSError`` for a folder that cannot be
    written) propagates; the old file, if any, is untouched.
    """
    if not isinstance(payload, (bytes, bytearray)):
        raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for stale in temporaries(path):
        with contextlib.suppress(OSError):
            if now - stale.stat().st_mtime > STALE_SECONDS:
                stale.unlink()
    digest = hashlib.sha256(payload).hexdigest().encode()
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # the kernel applies the umask
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(_MAGIC + digest + b"\n" + bytes(payload))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def read_checked(path: str | os.PathLike) -> bytes:
    """Return the payload of a file written by :func:`write_checked`.

    Raises ``FileNotFoundError`` if the file is missing and :class:`CorruptCacheError` if its
    header is malformed, the digest does not match or the file cannot be read (a directory in
    its place, no permission).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except IsADirectoryError as error:
        raise CorruptCacheError(f"{path}: is a directory, not a cache file (left in place)") from error
    except OSError as error:
        raise CorruptCacheError(f"{path}: cannot be read ({error.strerror or error})") from error
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


def save_if_writable(path: str | os.PathLike, obj) -> bool:
    """:func:`save_tensors`, except that a cache that cannot be written (read-only or full folder,
    a directory where the file belongs) only warns, once per folder and process, that results
    are not kept. Returns whether ``obj`` was saved; the caller's result stands either way."""
    path = Path(path)
    try:
        save_tensors(path, obj)
        return True
    except OSError as error:
        folder = str(path.parent)
        if folder not in _unwritable:
            _unwritable.add(folder)
            reason = f"{error.strerror}: {Path(error.filename).name}" if error.strerror and error.filename else error
            warnings.warn(f"cannot write to the lecturelib cache {folder} ({reason}), so results are computed but "
                          "not kept; set LECTURELIB_CACHE to a writable folder to keep them", stacklevel=3)
        return False


def discard(path: str | os.PathLike) -> bool:
    """Remove the cache file ``path`` if it is a file; a directory is left alone, and a folder
    that cannot be written is ignored. Returns whether the file went."""
    path = Path(path)
    with contextlib.suppress(OSError):
        if path.is_symlink() or path.is_file():
            path.unlink()
            return True
    return False
