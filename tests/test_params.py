"""lecturelib.params against torch's own views of a model: named_parameters / named_buffers,
torch.nn.utils.parameters_to_vector, torch.linalg.vector_norm in float64 and sha256 of the raw bytes."""

import hashlib

import pytest
import torch
from torch import nn

from lecturelib import params
from lecturelib.models import MLP


def _net(seed=0, norm=None):
    torch.manual_seed(seed)
    return MLP([3, 5, 4], "relu", norm=norm)


def test_state_is_the_named_parameters_detached_and_sharing_storage():
    model = _net()
    point = params.state(model)
    assert list(point) == [name for name, _ in model.named_parameters()]
    for (name, p), value in zip(model.named_parameters(), point.values()):
        assert not value.requires_grad and value.data_ptr() == p.data_ptr() and torch.equal(value, p)
    with torch.no_grad():
        model.layers[0].bias.add_(1.0)
    assert torch.equal(point["layers.0.bias"], model.layers[0].bias)  # a view, not a copy


def test_state_with_buffers_adds_the_floating_buffers_only():
    model = _net(norm="batch")
    point = params.state(model, include_buffers=True)
    floating = [name for name, b in model.named_buffers() if torch.is_floating_point(b)]
    assert list(point) == [name for name, _ in model.named_parameters()] + floating
    assert "norms.0.running_mean" in point and "norms.0.num_batches_tracked" not in point
    assert "norms.0.running_mean" not in params.state(model)


def test_copy_state_is_a_copy_that_later_training_leaves_alone():
    model = _net()
    copied = params.copy_state(model)
    with torch.no_grad():
        model.layers[0].weight.mul_(2.0)
    torch.testing.assert_close(copied["layers.0.weight"] * 2.0, model.layers[0].weight.detach())
    assert all(not v.requires_grad for v in copied.values())


def test_flatten_is_parameters_to_vector_and_unflatten_undoes_it():
    model = _net()
    point = params.state(model)
    flat = params.flatten(point)
    torch.testing.assert_close(flat, nn.utils.parameters_to_vector(model.parameters()).detach(), rtol=0, atol=0)
    assert params.flatten(point, dtype=torch.float64).dtype == torch.float64
    back = params.unflatten(flat, point)
    assert list(back) == list(point)
    for name in point:
        assert back[name].shape == point[name].shape and torch.equal(back[name], point[name])
    # the round trip the other way, with the template's dtype restored
    vector = torch.randn(flat.numel(), dtype=torch.float64)
    rebuilt = params.unflatten(vector, point)
    assert all(v.dtype == torch.float32 for v in rebuilt.values())
    torch.testing.assert_close(params.flatten(rebuilt, torch.float64), vector, rtol=1e-7, atol=1e-7)


def test_vector_leaves_out_frozen_parameters():
    model = _net()
    model.layers[0].weight.requires_grad_(False)
    expected = torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])
    assert torch.equal(params.vector(model), expected)
    assert params.vector(model).numel() == sum(p.numel() for p in model.parameters()) - 15


def test_norm_is_the_float64_euclidean_norm_of_a_model_or_a_point():
    model = _net()
    expected = float(torch.linalg.vector_norm(nn.utils.parameters_to_vector(model.parameters()).detach().double()))
    assert params.norm(model) == pytest.approx(expected, rel=1e-15)
    assert params.norm(params.state(model)) == pytest.approx(expected, rel=1e-15)
    assert params.norm({"a": torch.tensor([3.0]), "b": torch.tensor([[4.0]])}) == 5.0
    # summed in float64: float32 squares of 1e30 would overflow
    assert params.norm({"big": torch.tensor([1e30, 1e30], dtype=torch.float32)}) == pytest.approx(2 ** 0.5 * 1e30)


def test_fingerprint_names_the_values_and_changes_with_any_entry():
    model = _net(0)
    expected = hashlib.sha256()
    for name, p in model.named_parameters():
        expected.update(name.encode())
        expected.update(p.detach().contiguous().numpy().tobytes())
    assert params.fingerprint(model) == expected.hexdigest()[:16]
    assert params.fingerprint(model) == params.fingerprint(_net(0)) == params.fingerprint(params.state(model))
    assert params.fingerprint(model) != params.fingerprint(_net(1))
    point = params.copy_state(model)
    point["layers.1.bias"][2] += 1e-6  # one entry, barely
    assert params.fingerprint(point) != params.fingerprint(model)


@pytest.mark.parametrize("call, error, match", [
    (lambda: params.state("net"), TypeError, "model"),
    (lambda: params.copy_state(nn.Linear(2, 2).weight), TypeError, "model"),
    (lambda: params.vector(3), TypeError, "model"),
    (lambda: params.flatten({}), TypeError, "point"),
    (lambda: params.flatten([torch.zeros(2)]), TypeError, "point"),
    (lambda: params.flatten({"a": 1.0}), TypeError, "point"),
    (lambda: params.unflatten(torch.zeros(3), {}), TypeError, "like"),
    (lambda: params.unflatten(torch.zeros(1, 3), {"a": torch.zeros(3)}), ValueError, "vector"),
    (lambda: params.unflatten([0.0] * 3, {"a": torch.zeros(3)}), TypeError, "vector"),
    (lambda: params.unflatten(torch.zeros(4), {"a": torch.zeros(3)}), ValueError, "4 entries.*holds 3"),
    (lambda: params.norm({}), TypeError, "point"),
    (lambda: params.fingerprint({"a": "b"}), TypeError, "point"),
])
def test_bad_arguments_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
