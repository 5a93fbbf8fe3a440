import random

import numpy as np
import pytest
import torch

from lecturelib import device


def test_get_device_defaults_to_best_available(monkeypatch):
    monkeypatch.delenv("LECTURELIB_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert device.get_device().type == expected


def test_get_device_override(monkeypatch):
    monkeypatch.setenv("LECTURELIB_DEVICE", "cpu")
    assert device.get_device() == torch.device("cpu")
    monkeypatch.setenv("LECTURELIB_DEVICE", " CPU ")
    assert device.get_device() == torch.device("cpu")


@pytest.mark.parametrize("value", ["gpu", "tpu", "cuda:x", "cpu0"])
def test_get_device_rejects_unknown_names(monkeypatch, value):
    monkeypatch.setenv("LECTURELIB_DEVICE", value)
    with pytest.raises(ValueError, match="LECTURELIB_DEVICE"):
        device.get_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="machine has CUDA")
def test_get_device_missing_cuda_is_clear(monkeypatch):
    monkeypatch.setenv("LECTURELIB_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="no CUDA"):
        device.get_device()


def test_seed_everything_repeats_all_generators():
    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    device.seed_everything(123)
    first = draw()
    device.seed_everything(123)
    assert draw() == first
    device.seed_everything(124)
    assert draw() != first


@pytest.mark.parametrize("seed, error", [(1.5, TypeError), ("3", TypeError), (True, TypeError), (-1, ValueError),
                                         (2**32, ValueError)])
def test_seed_everything_rejects_bad_seeds(seed, error):
    with pytest.raises(error, match="seed"):
        device.seed_everything(seed)


def test_scale(monkeypatch):
    monkeypatch.delenv("LECTURELIB_SCALE", raising=False)
    assert device.get_scale() == "small" and not device.is_full_scale()
    monkeypatch.setenv("LECTURELIB_SCALE", "full")
    assert device.is_full_scale()
    monkeypatch.setenv("LECTURELIB_SCALE", "huge")
    with pytest.raises(ValueError, match="LECTURELIB_SCALE='huge'"):
        device.get_scale()


def test_progress_switch(monkeypatch):
    monkeypatch.setenv("LECTURELIB_PROGRESS", "0")
    assert not device.progress_enabled()
    monkeypatch.setenv("LECTURELIB_PROGRESS", "1")
    assert device.progress_enabled()
