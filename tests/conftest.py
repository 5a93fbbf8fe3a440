"""Shared test set-up: every test gets its own empty lecturelib cache folder."""

import pytest


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Point LECTURELIB_CACHE at a fresh folder so tests never see the user's cached models."""
    folder = tmp_path / "lecturelib-cache"
    monkeypatch.setenv("LECTURELIB_CACHE", str(folder))
    monkeypatch.setenv("LECTURELIB_PROGRESS", "0")
    return folder
