import pytest
import torch

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
