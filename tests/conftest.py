"""Shared test set-up: every test gets its own empty lecturelib cache folder."""

import pytest


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Point LECTURELIB_CACHE at a fresh folder so tests never see the user's cached models."""
    folder = tmp_path / "lecturelib-cache"
    monkeypatch.setenv("LECTURELIB_CACHE", str(folder))
    monkeypatch.setenv("LECTURELIB_PROGRESS", "0")
    return folder


@pytest.fixture
def one_thread():
    """Small tensors: one thread avoids thread contention on a shared machine (restored afterwards).
    A test module asks for it with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
