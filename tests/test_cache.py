import errno
import os
import stat
import warnings
from dataclasses import replace

import pytest
import torch

from lecturelib import cache, data, models, storage, train

SPLIT = data.regression_1d(n_train=10, n_test=10)


def _build():
    torch.manual_seed(0)
    return models.MLP([1, 4, 1], activation="tanh")


def _train(model):
    return train.fit(model, SPLIT, lr=0.1, epochs=5, device="cpu")


def test_second_call_loads_the_same_model_and_history():
    first = cache.cached_fit("unit", {"lr": 0.1}, _build, _train, data=SPLIT)
    second = cache.cached_fit("unit", {"lr": 0.1}, _build, _train, data=SPLIT)
    assert not first.from_cache and second.from_cache
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
    assert second.history == first.history
    assert not second.model.training


def test_changed_configuration_retrains():
    cache.cached_fit("unit", {"lr": 0.1}, _build, _train, data=SPLIT)
    assert not cache.cached_fit("unit", {"lr": 0.2}, _build, _train, data=SPLIT).from_cache
    assert cache.config_key({"a": 1, "b": 2}) == cache.config_key({"b": 2, "a": 1})
    assert cache.config_key({"a": 1}) != cache.config_key({"a": 2})


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_corrupted_file_is_reported_and_retrained(damage):
    first = cache.cached_fit("unit", {"lr": 0.1}, _build, _train, data=SPLIT)
    path = cache.cache_path("unit", {"lr": 0.1}, data=SPLIT)
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) - 50]
    elif damage == "flip":
        raw[-20] ^= 0x01
    else:
        raw = bytearray(b"not a cache file at all")
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="corrupted model cache"):
        again = cache.cached_fit("unit", {"lr": 0.1}, _build, _train, data=SPLIT)
    assert not again.from_cache
    assert torch.equal(again.model.layers[0].weight, first.model.layers[0].weight)  # same seeded retraining
    assert cache.cached_fit("unit", {"lr": 0.1}, _build, _train, data=SPLIT).from_cache  # the rewritten file is good


def test_a_file_that_does_not_fit_the_model_is_retrained():
    cache.cached_fit("unit", {"lr": 0.1}, _build, _train, data=SPLIT)
    wider = lambda: models.MLP([1, 6, 1], activation="tanh")  # noqa: E731
    with pytest.warns(UserWarning, match="does not fit the model"):
        run = cache.cached_fit("unit", {"lr": 0.1}, wider, _train, data=SPLIT)
    assert not run.from_cache and run.model.layers[0].weight.shape == (6, 1)


def test_clear_cache():
    cache.cached_fit("one", {}, _build, _train, data=SPLIT)
    cache.cached_fit("two", {}, _build, _train, data=SPLIT)
    assert cache.clear_cache("one") == 1
    assert cache.clear_cache() == 1


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="name"):
        cache.cached_fit("bad name/..", {}, _build, _train, data=SPLIT)
    with pytest.raises(ValueError, match="name"):
        cache.cache_path("run\n", {}, data=SPLIT)  # a trailing newline would end up in the file name
    with pytest.raises(TypeError, match="config must be a dict"):
        cache.config_key([1, 2])
    with pytest.raises(TypeError, match="JSON"):
        cache.config_key({"f": object()})
    with pytest.raises(TypeError, match="build and train must be callables"):
        cache.cached_fit("x", {}, _build, None, data=SPLIT)
    with pytest.raises(TypeError, match="History"):
        cache.cached_fit("x", {}, _build, lambda m: None, data=SPLIT)
    with pytest.raises(TypeError, match="data"):
        cache.cached_fit("x", {}, _build, _train)  # what a run trains on is required
    with pytest.raises(TypeError, match="data"):
        cache.cached_fit("x", {}, _build, _train, data=SPLIT.X_train.numpy())


# ---------------------------------------------------------------- what the run trained on

def test_changed_data_retrains_instead_of_returning_the_old_model():
    first = cache.cached_fit("unit", {"lr": 0.1}, _build, _train, data=SPLIT)
    moved = replace(SPLIT, y_train=SPLIT.y_train + 1.0)  # a reader edits the data in a notebook cell
    run = cache.cached_fit("unit", {"lr": 0.1}, _build,
                           lambda model: train.fit(model, moved, lr=0.1, epochs=5, device="cpu"), data=moved)
    assert not run.from_cache
    assert run.history.train_loss[-1] != first.history.train_loss[-1]
    assert cache.cache_path("unit", {"lr": 0.1}, data=moved) != cache.cache_path("unit", {"lr": 0.1}, data=SPLIT)


def test_data_fingerprint_covers_dtype_shape_values_and_structure():
    x = torch.arange(6.0).reshape(2, 3)
    fingerprint = cache.data_fingerprint
    assert fingerprint(x) == fingerprint(x.clone())
    assert fingerprint(x.T) == fingerprint(x.T.contiguous())  # the values, not the memory layout
    assert fingerprint(x) != fingerprint(x.double())
    assert fingerprint(x) != fingerprint(x.reshape(3, 2))
    assert fingerprint(x) != fingerprint(x + torch.tensor([[1e-7, 0.0, 0.0]]))  # one value, slightly
    assert fingerprint((x, None)) != fingerprint((x,)) != fingerprint(((x,),))
    assert fingerprint({"a": x, "b": x[:1]}) == fingerprint({"b": x[:1], "a": x})
    assert fingerprint({"a": x}) != fingerprint({"b": x})
    assert fingerprint(SPLIT) == fingerprint(data.regression_1d(n_train=10, n_test=10))
    assert fingerprint([x, x]) == fingerprint((x, x))
    for bad in ([1, 2], "text", {1: x}, x.numpy()):
        with pytest.raises(TypeError, match="data"):
            fingerprint(bad)


def test_a_record_with_another_data_fingerprint_is_rebuilt():
    cache.cached_fit("unit", {"lr": 0.1}, _build, _train, data=SPLIT)
    path = cache.cache_path("unit", {"lr": 0.1}, data=SPLIT)
    record = storage.load_tensors(path)
    record["data"] = "0" * 64  # checksummed and well formed, but made from other data
    storage.save_tensors(path, record)
    with pytest.warns(UserWarning, match="data"):
        run = cache.cached_fit("unit", {"lr": 0.1}, _build, _train, data=SPLIT)
    assert not run.from_cache
    assert cache.cached_fit("unit", {"lr": 0.1}, _build, _train, data=SPLIT).from_cache


# ---------------------------------------------------------------- a cache that cannot keep the run

def _deny(*args, **kwargs):
    raise PermissionError(errno.EACCES, "Permission denied")


@pytest.mark.parametrize("how", ["simulated", "chmod"])
def test_read_only_cache_trains_warns_once_and_returns_the_model(isolated_cache, monkeypatch, how):
    models_folder = isolated_cache / "models"
    models_folder.mkdir(parents=True)
    if how == "chmod":
        if os.geteuid() == 0:
            pytest.skip("root ignores permission bits; the simulated case covers this")
        models_folder.chmod(0o555)
    else:
        monkeypatch.setattr(os, "replace", _deny)  # the last step of every write
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            first = cache.cached_fit("unit", {"lr": 0.1}, _build, _train, data=SPLIT)
            second = cache.cached_fit("unit", {"lr": 0.1}, _build, _train, data=SPLIT)
    finally:
        models_folder.chmod(0o755)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 1, messages
    assert str(models_folder) in messages[0] and "not kept" in messages[0]
    assert not first.from_cache and not second.from_cache
    assert torch.equal(first.model.layers[0].weight, second.model.layers[0].weight)
    assert first.history.epoch[-1] == 5
    assert list(models_folder.iterdir()) == []  # no file, no temporary left behind


def test_a_directory_where_the_cache_file_belongs_is_left_alone_and_the_run_trains():
    path = cache.cache_path("unit", {"lr": 0.1}, data=SPLIT)
    (path / "something").mkdir(parents=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = cache.cached_fit("unit", {"lr": 0.1}, _build, _train, data=SPLIT)
    assert not run.from_cache and run.history.epoch[-1] == 5
    assert any("directory" in str(w.message) for w in caught)
    assert (path / "something").is_dir()  # never removed: it may hold someone's files


@pytest.mark.parametrize("blocker", ["cache folder", "models folder"])
def test_a_file_where_a_cache_folder_belongs_is_a_clear_error_before_training(isolated_cache, monkeypatch, blocker):
    if blocker == "cache folder":
        isolated_cache.parent.mkdir(parents=True, exist_ok=True)
        isolated_cache.write_text("a file")
    else:
        isolated_cache.mkdir(parents=True)
        (isolated_cache / "models").write_text("a file")
    calls = []
    with pytest.raises(NotADirectoryError, match="LECTURELIB_CACHE"):
        cache.cached_fit("unit", {"lr": 0.1}, _build, lambda model: calls.append(model), data=SPLIT)
    assert calls == []


def test_cached_models_are_readable_by_others():
    previous = os.umask(0o022)
    try:
        cache.cached_fit("unit", {"lr": 0.1}, _build, _train, data=SPLIT)
    finally:
        os.umask(previous)
    path = cache.cache_path("unit", {"lr": 0.1}, data=SPLIT)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_clear_cache_matches_the_run_name_exactly():
    cache.cached_fit("faults", {}, _build, _train, data=SPLIT)
    cache.cached_fit("faults-extra", {}, _build, _train, data=SPLIT)
    assert cache.clear_cache("faults") == 1
    assert cache.cache_path("faults-extra", {}, data=SPLIT).exists()
    assert not cache.cache_path("faults", {}, data=SPLIT).exists()


def test_clear_cache_removes_temporaries_left_by_killed_writers():
    cache.cached_fit("one", {}, _build, _train, data=SPLIT)
    one = cache.cache_path("one", {}, data=SPLIT)
    two = cache.cache_path("two", {}, data=SPLIT)
    one_tmp = one.with_name(one.name + ".0123456789abcdef.tmp")
    two_tmp = two.with_name(two.name + ".0123456789abcdef.tmp")
    one_tmp.write_bytes(b"half")
    two_tmp.write_bytes(b"half")
    assert cache.clear_cache("one") == 1
    assert not one_tmp.exists() and two_tmp.exists()
    assert cache.clear_cache() == 0
    assert not two_tmp.exists()
