import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

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


# ------------------------------------------------------------------------- mutation-guided tests

def _machine(monkeypatch, cuda: bool, mps: bool):
    """Pretend the machine has (or lacks) CUDA and Apple MPS."""
    monkeypatch.delenv("LECTURELIB_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (True, False, "cuda"),
                                                 (False, True, "mps"), (False, False, "cpu")])
def test_get_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    # catches a wrong device name or order in the automatic choice
    _machine(monkeypatch, cuda, mps)
    assert device.get_device() == torch.device(expected)
    assert device.resolve_device(None) == torch.device(expected)


def test_mps_counts_as_absent_when_torch_has_no_mps_backend(monkeypatch):
    # catches a lookup of torch.backends.mps that fails (or passes) when the backend is missing
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert device._mps_available()
    monkeypatch.setattr(device, "torch", SimpleNamespace(backends=SimpleNamespace()))  # an old torch
    assert device._mps_available() is False


def test_bad_device_name_message_names_the_variable_and_the_way_out(monkeypatch):
    # catches a message naming the wrong source or missing the hint
    monkeypatch.setenv("LECTURELIB_DEVICE", "gpu")
    with pytest.raises(ValueError, match=r"^LECTURELIB_DEVICE='gpu' is not a device name; use 'cpu', 'cuda', "
                                         r"'cuda:N' or 'mps', or leave it unset to pick automatically$"):
        device.get_device()
    with pytest.raises(ValueError, match=r"^device='gpu' is not a device name; .* or None for the default$"):
        device.resolve_device("gpu")


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_scale_setting_means_small(monkeypatch, value):
    # catches a wrong fallback for a set-but-empty LECTURELIB_SCALE
    monkeypatch.setenv("LECTURELIB_SCALE", value)
    assert device.get_scale() == "small"


@pytest.mark.parametrize("value, shown", [("0", False), ("false", False), (" No ", False), ("OFF", False),
                                          ("1", True), ("yes", True), (None, True)])
def test_progress_switch_reads_every_off_word_and_defaults_to_on(monkeypatch, value, shown):
    # catches a missing or misspelt off-word, and a wrong default when the variable is unset
    if value is None:
        monkeypatch.delenv("LECTURELIB_PROGRESS", raising=False)
    else:
        monkeypatch.setenv("LECTURELIB_PROGRESS", value)
    assert device.progress_enabled() is shown


def test_model_device_is_where_the_model_is_unless_told():
    assert device.model_device(nn.Linear(2, 2)) == torch.device("cpu")
    assert device.model_device(nn.ReLU()) == torch.device("cpu")  # nothing to ask: the CPU
    assert device.model_device(nn.Linear(2, 2), "cpu") == torch.device("cpu")
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        device.model_device("a model")
    with pytest.raises(ValueError, match="not a device name"):
        device.model_device(nn.Linear(2, 2), "gpu")


def test_preserved_torch_state_restores_threads_flushing_and_dtype():
    threads, flushing = torch.get_num_threads(), device.flushes_denormals()
    try:
        torch.set_flush_denormal(False)
        assert not device.flushes_denormals()
        with device.preserved_torch_state():
            torch.set_num_threads(1)
            torch.set_default_dtype(torch.float64)
            torch.set_flush_denormal(True)
            assert device.flushes_denormals() == torch.set_flush_denormal(True)  # True where supported
        assert torch.get_num_threads() == threads and torch.get_default_dtype() == torch.float32
        assert not device.flushes_denormals()
        with pytest.raises(RuntimeError, match="inside"):
            with device.preserved_torch_state():
                torch.set_default_dtype(torch.float64)
                raise RuntimeError("inside")
        assert torch.get_default_dtype() == torch.float32
    finally:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(flushing)
