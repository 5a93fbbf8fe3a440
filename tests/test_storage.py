import io
import os
import shlex
import stat
import time

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lecturelib import storage


def test_round_trip(tmp_path):
    path = tmp_path / "x.pt"
    obj = {"w": torch.arange(6.0).reshape(2, 3), "name": "run", "losses": [1.0, 0.5]}
    storage.save_tensors(path, obj)
    back = storage.load_tensors(path)
    assert torch.equal(back["w"], obj["w"]) and back["name"] == "run" and back["losses"] == [1.0, 0.5]


def test_truncated_file_is_detected(tmp_path):
    path = tmp_path / "x.pt"
    storage.save_tensors(path, {"w": torch.randn(100)})
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(storage.CorruptCacheError, match="checksum"):
        storage.load_tensors(path)


def test_flipped_byte_is_detected(tmp_path):
    path = tmp_path / "x.pt"
    storage.save_tensors(path, {"w": torch.randn(100)})
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(storage.CorruptCacheError):
        storage.load_tensors(path)


def test_foreign_file_is_detected(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"w": torch.ones(2)}, path)  # a plain torch file has no lecturelib header
    with pytest.raises(storage.CorruptCacheError, match="header"):
        storage.load_tensors(path)


def test_write_is_atomic_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "sub" / "x.bin"
    storage.write_checked(path, b"first")
    storage.write_checked(path, b"second")
    assert storage.read_checked(path) == b"second"
    assert [p.name for p in path.parent.iterdir()] == ["x.bin"]


def test_write_rejects_non_bytes(tmp_path):
    with pytest.raises(TypeError, match="payload must be bytes"):
        storage.write_checked(tmp_path / "x", "text")


def test_cache_dir_follows_environment(isolated_cache):
    assert storage.cache_dir() == isolated_cache and isolated_cache.is_dir()


# ---------------------------------------------------------------- properties of checked files

STORAGE_SETTINGS = settings(max_examples=60, deadline=None,
                            suppress_health_check=[HealthCheck.function_scoped_fixture])


@STORAGE_SETTINGS
@given(payload=st.binary(max_size=2000))
def test_any_bytes_round_trip(tmp_path, payload):
    path = tmp_path / "x.bin"
    storage.write_checked(path, payload)
    assert storage.read_checked(path) == payload


@STORAGE_SETTINGS
@given(payload=st.binary(max_size=500), data=st.data())
def test_any_flipped_byte_or_truncation_is_detected(tmp_path, payload, data):
    path = tmp_path / "x.bin"
    storage.write_checked(path, payload)
    raw = bytearray(path.read_bytes())
    if data.draw(st.booleans(), label="flip"):
        where = data.draw(st.integers(0, len(raw) - 1), label="where")
        raw[where] ^= data.draw(st.integers(1, 255), label="mask")
    else:
        raw = raw[: data.draw(st.integers(0, len(raw) - 1), label="length")]
    path.write_bytes(bytes(raw))
    with pytest.raises(storage.CorruptCacheError):
        storage.read_checked(path)


_DTYPES = [torch.float32, torch.float64, torch.int64, torch.uint8, torch.bool, torch.bfloat16]


@st.composite
def _tensors(draw):
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    dtype = draw(st.sampled_from(_DTYPES))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
    values = torch.randn(shape, generator=generator, dtype=torch.float64) * 100
    return values.to(dtype)


@STORAGE_SETTINGS
@given(obj=st.dictionaries(st.text(max_size=8), _tensors(), max_size=5))
def test_dicts_of_random_tensors_round_trip(tmp_path, obj):
    path = tmp_path / "x.pt"
    storage.save_tensors(path, obj)
    back = storage.load_tensors(path)
    assert set(back) == set(obj)
    for key, value in obj.items():
        assert back[key].dtype == value.dtype and back[key].shape == value.shape
        assert torch.equal(back[key], value)


class _Payload:
    """Touches a file when unpickled without weights_only=True."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(self.marker)}",))


def test_payloads_are_loaded_with_weights_only(tmp_path):
    marker = tmp_path / "executed"
    buffer = io.BytesIO()
    torch.save({"w": torch.ones(2), "extra": _Payload(marker)}, buffer)
    path = storage.write_checked(tmp_path / "x.pt", buffer.getvalue())  # a valid checksum over a hostile payload
    with pytest.raises(storage.CorruptCacheError, match="not loadable"):
        storage.load_tensors(path)
    assert not marker.exists()


# ---------------------------------------------------------------- the folder and its files

def test_files_are_readable_by_others_subject_to_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        path = storage.write_checked(tmp_path / "shared.bin", b"x")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        os.umask(0o077)
        private = storage.write_checked(tmp_path / "private.bin", b"x")
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    finally:
        os.umask(previous)


def test_stale_temporaries_of_the_target_are_removed_on_write(tmp_path):
    target = tmp_path / "x.pt"
    stale, fresh = tmp_path / "x.pt.0123456789abcdef.tmp", tmp_path / "x.pt.fedcba9876543210.tmp"
    other = tmp_path / "y.pt.0123456789abcdef.tmp"
    for file in (stale, fresh, other):
        file.write_bytes(b"half written")
    old = time.time() - 2 * storage.STALE_SECONDS
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    storage.write_checked(target, b"payload")
    assert not stale.exists()
    assert fresh.exists()  # a writer may still be at work on it
    assert other.exists()  # another target's business
    assert storage.read_checked(target) == b"payload"


def test_cache_dir_expands_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LECTURELIB_CACHE", "~/my-cache")
    assert storage.cache_dir() == tmp_path / "home" / "my-cache"
    assert (tmp_path / "home" / "my-cache").is_dir() and not (tmp_path / "~").exists()


@pytest.mark.parametrize("where", ["the folder", "a parent"])
def test_cache_dir_that_is_a_file_is_a_clear_error(tmp_path, monkeypatch, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LECTURELIB_CACHE", str(blocker if where == "the folder" else blocker / "cache"))
    with pytest.raises(NotADirectoryError, match="LECTURELIB_CACHE"):
        storage.cache_dir()
    assert blocker.read_text() == "not a folder"
