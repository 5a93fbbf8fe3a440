import pytest
import torch

from lecturelib import cache, data, models, train

SPLIT = data.regression_1d(n_train=10, n_test=10)


def _build():
    torch.manual_seed(0)
    return models.MLP([1, 4, 1], activation="tanh")


def _train(model):
    return train.fit(model, SPLIT, lr=0.1, epochs=5, device="cpu")


def test_second_call_loads_the_same_model_and_history():
    first = cache.cached_fit("unit", {"lr": 0.1}, _build, _train)
    second = cache.cached_fit("unit", {"lr": 0.1}, _build, _train)
    assert not first.from_cache and second.from_cache
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
    assert second.history == first.history
    assert not second.model.training


def test_changed_configuration_retrains():
    cache.cached_fit("unit", {"lr": 0.1}, _build, _train)
    assert not cache.cached_fit("unit", {"lr": 0.2}, _build, _train).from_cache
    assert cache.config_key({"a": 1, "b": 2}) == cache.config_key({"b": 2, "a": 1})
    assert cache.config_key({"a": 1}) != cache.config_key({"a": 2})


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_corrupted_file_is_reported_and_retrained(damage):
    first = cache.cached_fit("unit", {"lr": 0.1}, _build, _train)
    path = cache.cache_path("unit", {"lr": 0.1})
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) - 50]
    elif damage == "flip":
        raw[-20] ^= 0x01
    else:
        raw = bytearray(b"not a cache file at all")
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="corrupted model cache"):
        again = cache.cached_fit("unit", {"lr": 0.1}, _build, _train)
    assert not again.from_cache
    assert torch.equal(again.model.layers[0].weight, first.model.layers[0].weight)  # same seeded retraining
    assert cache.cached_fit("unit", {"lr": 0.1}, _build, _train).from_cache  # the rewritten file is good


def test_a_file_that_does_not_fit_the_model_is_retrained():
    cache.cached_fit("unit", {"lr": 0.1}, _build, _train)
    wider = lambda: models.MLP([1, 6, 1], activation="tanh")  # noqa: E731
    with pytest.warns(UserWarning, match="does not fit the model"):
        run = cache.cached_fit("unit", {"lr": 0.1}, wider, _train)
    assert not run.from_cache and run.model.layers[0].weight.shape == (6, 1)


def test_clear_cache():
    cache.cached_fit("one", {}, _build, _train)
    cache.cached_fit("two", {}, _build, _train)
    assert cache.clear_cache("one") == 1
    assert cache.clear_cache() == 1


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="name"):
        cache.cached_fit("bad name/..", {}, _build, _train)
    with pytest.raises(TypeError, match="config must be a dict"):
        cache.config_key([1, 2])
    with pytest.raises(TypeError, match="JSON"):
        cache.config_key({"f": object()})
    with pytest.raises(TypeError, match="build and train must be callables"):
        cache.cached_fit("x", {}, _build, None)
    with pytest.raises(TypeError, match="History"):
        cache.cached_fit("x", {}, _build, lambda m: None)
