import errno
import functools
import os
import stat
import warnings
from dataclasses import replace

import pytest
import torch

from lecturelib import cache, data, models, storage, train
from lecturelib.cache import keys

SPLIT = data.regression_1d(n_train=10, n_test=10)
NET = functools.partial(models.MLP, [1, 4, 1], "tanh")


def _spec(name="unit", **fields):
    fields = {"lr": 0.1, "epochs": 5, "device": "cpu", **fields}
    return cache.RunSpec(name, fields.pop("data", SPLIT), fields.pop("model", NET), **fields)


def _no_history(model, data, **arguments):
    return None


def _refuse_to_train(model, data, **arguments):
    raise AssertionError("trained although the cache folder is unusable")


def test_second_call_loads_the_same_model_and_history():
    first = cache.cached_run(_spec("unit", lr=0.1))
    second = cache.cached_run(_spec("unit", lr=0.1))
    assert not first.from_cache and second.from_cache
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
    assert second.history == first.history
    assert not second.model.training


def test_changed_configuration_retrains():
    cache.cached_run(_spec("unit", lr=0.1))
    assert not cache.cached_run(_spec("unit", lr=0.2)).from_cache
    assert cache.run_key(_spec(lr=0.1)) == cache.run_key(_spec(lr=0.1))
    assert cache.run_key(_spec(lr=0.1)) != cache.run_key(_spec(lr=0.2))


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_corrupted_file_is_reported_and_retrained(damage):
    first = cache.cached_run(_spec("unit", lr=0.1))
    path = cache.cache_path(_spec("unit", lr=0.1))
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) - 50]
    elif damage == "flip":
        raw[-20] ^= 0x01
    else:
        raw = bytearray(b"not a cache file at all")
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="corrupted model cache"):
        again = cache.cached_run(_spec("unit", lr=0.1))
    assert not again.from_cache
    assert torch.equal(again.model.layers[0].weight, first.model.layers[0].weight)  # same seeded retraining
    assert cache.cached_run(_spec("unit", lr=0.1)).from_cache  # the rewritten file is good


def test_a_file_that_does_not_fit_the_model_is_retrained():
    cache.cached_run(_spec("unit", lr=0.1))
    # a well-formed record of the right run whose weights have other shapes
    wider = _spec(model=functools.partial(models.MLP, [1, 6, 1], "tanh"))
    cache.cache_path(_spec()).rename(cache.cache_path(wider))
    record = storage.load_tensors(cache.cache_path(wider))
    record["run"] = wider.describe()
    storage.save_tensors(cache.cache_path(wider), record)
    with pytest.warns(UserWarning, match="does not fit the model"):
        run = cache.cached_run(wider)
    assert not run.from_cache and run.model.layers[0].weight.shape == (6, 1)


def test_clear_cache():
    cache.cached_run(_spec("one"))
    cache.cached_run(_spec("two"))
    assert cache.clear_cache("one") == 1
    assert cache.clear_cache() == 1


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="name"):
        _spec("bad name/..")
    with pytest.raises(ValueError, match="name"):
        _spec("run\n")  # a trailing newline would end up in the file name
    with pytest.raises(TypeError, match="a lambda"):
        _spec(model=lambda: NET())
    with pytest.raises(TypeError, match="callback is a lambda"):
        _spec(callback=lambda model, epoch: None)
    with pytest.raises(TypeError, match="cannot describe"):
        _spec(optimizer=object())
    with pytest.raises(TypeError, match="model must build the network"):
        _spec(model=NET())
    with pytest.raises(TypeError, match="History"):
        cache.cached_run(_spec(trainer=_no_history))
    with pytest.raises(TypeError, match="data must be a lecturelib.data.DataSplit"):
        _spec(data=SPLIT.X_train)
    with pytest.raises(TypeError, match="spec must be a lecturelib.cache.RunSpec"):
        cache.cached_run({"name": "unit"})
    with pytest.raises(ValueError, match="epochs"):
        _spec(epochs=-1)


# ---------------------------------------------------------------- what the run trained on

def test_changed_data_retrains_instead_of_returning_the_old_model():
    first = cache.cached_run(_spec("unit", lr=0.1))
    moved = replace(SPLIT, y_train=SPLIT.y_train + 1.0)  # a reader edits the data in a notebook cell
    run = cache.cached_run(_spec(data=moved))
    assert not run.from_cache
    assert run.history.train_loss[-1] != first.history.train_loss[-1]
    assert cache.cache_path(_spec(data=moved)) != cache.cache_path(_spec())


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
    cache.cached_run(_spec("unit", lr=0.1))
    path = cache.cache_path(_spec("unit", lr=0.1))
    record = storage.load_tensors(path)
    record["data"] = "0" * 64  # checksummed and well formed, but made from other data
    storage.save_tensors(path, record)
    with pytest.warns(UserWarning, match="data"):
        run = cache.cached_run(_spec("unit", lr=0.1))
    assert not run.from_cache
    assert cache.cached_run(_spec("unit", lr=0.1)).from_cache


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
            first = cache.cached_run(_spec("unit", lr=0.1))
            second = cache.cached_run(_spec("unit", lr=0.1))
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
    path = cache.cache_path(_spec("unit", lr=0.1))
    (path / "something").mkdir(parents=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = cache.cached_run(_spec("unit", lr=0.1))
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
    with pytest.raises(NotADirectoryError, match="LECTURELIB_CACHE"):
        cache.cached_run(_spec(trainer=_refuse_to_train))


def test_cached_models_are_readable_by_others():
    previous = os.umask(0o022)
    try:
        cache.cached_run(_spec("unit", lr=0.1))
    finally:
        os.umask(previous)
    path = cache.cache_path(_spec("unit", lr=0.1))
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_clear_cache_matches_the_run_name_exactly():
    cache.cached_run(_spec("faults"))
    cache.cached_run(_spec("faults-extra"))
    assert cache.clear_cache("faults") == 1
    assert cache.cache_path(_spec("faults-extra")).exists()
    assert not cache.cache_path(_spec("faults")).exists()


def test_clear_cache_removes_temporaries_left_by_killed_writers():
    cache.cached_run(_spec("one"))
    one = cache.cache_path(_spec("one"))
    two = cache.cache_path(_spec("two"))
    one_tmp = one.with_name(one.name + ".0123456789abcdef.tmp")
    two_tmp = two.with_name(two.name + ".0123456789abcdef.tmp")
    one_tmp.write_bytes(b"half")
    two_tmp.write_bytes(b"half")
    assert cache.clear_cache("one") == 1
    assert not one_tmp.exists() and two_tmp.exists()
    assert cache.clear_cache() == 0
    assert not two_tmp.exists()


# ---------------------------------------------------------------- the run specification


def _norm_hook(model, epoch):
    return {"norm": float(model.layers[0].weight.detach().norm())}


def _shrink(model, history):
    with torch.no_grad():
        model.layers[0].weight.mul_(0.5)
    history.extras["finished"] = [True]


def test_a_run_spec_trains_exactly_like_the_call_it_describes():
    spec = _spec(optimizer="adam", lr=0.01, epochs=7, eval_every=3, seed=4, callback=_norm_hook)
    run = cache.cached_run(spec)
    torch.manual_seed(4)
    reference = NET()
    history = train.fit(reference, SPLIT, optimizer="adam", lr=0.01, epochs=7, eval_every=3, seed=4,
                        callback=_norm_hook, device="cpu")
    for a, b in zip(run.model.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert replace(run.history, seconds=0.0) == replace(history, seconds=0.0)
    assert run.history.epoch == [0, 3, 6, 7]
    again = cache.cached_run(spec)
    assert again.from_cache and again.history == run.history and not again.model.training


def test_finish_runs_before_the_run_is_stored():
    first = cache.cached_run(_spec(finish=_shrink))
    plain = cache.cached_run(_spec())
    torch.testing.assert_close(first.model.layers[0].weight, 0.5 * plain.model.layers[0].weight, rtol=0, atol=0)
    loaded = cache.cached_run(_spec(finish=_shrink))
    assert loaded.from_cache and loaded.history.extras["finished"] == [True]
    torch.testing.assert_close(loaded.model.layers[0].weight, first.model.layers[0].weight, rtol=0, atol=0)


@pytest.mark.parametrize("change", [
    {"lr": 0.05}, {"optimizer": "adam"}, {"momentum": 0.5}, {"weight_decay": 1e-3}, {"epochs": 6},
    {"batch_size": 5}, {"seed": 1}, {"eval_every": 2}, {"max_steps": 3}, {"callback": _norm_hook},
    {"finish": _shrink}, {"model": functools.partial(models.MLP, [1, 4, 1], "relu")},
    {"model": functools.partial(models.MLP, [1, 4, 1], "tanh", residual=False, norm="layer")},
    {"optimizer": functools.partial(torch.optim.SGD, lr=0.1)},
])
def test_every_field_that_changes_the_result_changes_the_key(change):
    assert cache.run_key(_spec(**change)) != cache.run_key(_spec())


def test_the_key_covers_only_the_modules_a_run_uses():
    used = set()
    for hook in ("model", "trainer", "callback"):
        keys.describe(getattr(_spec(callback=_norm_hook), hook), hook, used)
    closure = keys.import_closure(used)
    assert {"lecturelib.models.mlp", "lecturelib.train.loop", "lecturelib.data", "lecturelib._checks"} <= closure
    assert not any(name.startswith(("lecturelib.widgets", "lecturelib.plotting", "lecturelib.experiments"))
                   for name in closure)


def test_editing_a_module_the_run_uses_changes_the_key(monkeypatch, tmp_path):
    before = cache.run_key(_spec())
    original = keys.module_file

    def edited(module):
        path = original(module)
        if module != "lecturelib.train.loop":
            return path
        copy = tmp_path / "loop.py"
        copy.write_bytes(path.read_bytes() + b"\n# an edit\n")
        return copy

    monkeypatch.setattr("lecturelib.cache.spec.module_file", edited)
    assert cache.run_key(_spec()) != before


def test_partial_modules_and_tensors_are_described_by_what_they_hold():
    net = NET()
    described = keys.describe(functools.partial(_shrink, net), "finish", set())
    assert described["args"][0]["module"] == "lecturelib.models.mlp.MLP"
    with torch.no_grad():
        net.layers[0].weight.add_(1.0)
    assert keys.describe(functools.partial(_shrink, net), "finish", set()) != described
    assert keys.describe(torch.ones(2), "x", set()) != keys.describe(torch.ones(3), "x", set())
    assert keys.describe(float("nan"), "x", set()) == "nan"


def test_the_model_comes_back_on_the_device_it_trained_on():
    run = cache.cached_run(_spec())
    assert {p.device.type for p in run.model.parameters()} == {"cpu"}
    assert cache.cached_run(_spec()).model.layers[0].weight.device.type == "cpu"
