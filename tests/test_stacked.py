"""lecturelib.models.stacked against trusted references: each member's own MLP forward pass,
torch.autograd per member, and torch.func (stack_module_state + functional_call + vmap)."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from lecturelib import models
from lecturelib.models import StackedMLP, repeated_layers

TIGHT = 1e-10  # float64 relative tolerance for quantities computed in a different order


def _inputs(n=7, n_in=1, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, n_in, generator=generator, dtype=torch.float64)
    y = torch.randn(n, 1, generator=generator, dtype=torch.float64)
    return X, y


def _mlps(hidden, residual, activation="leaky_relu", n_in=1, width=5, tail=(1, 1), seed=0):
    torch.manual_seed(seed)
    widths = [[n_in] + [width] * k + list(tail) for k in hidden]
    # residual=True needs a square hidden layer; a member without one is plain, as the stack treats it
    return [models.MLP(w, activation=activation, residual=r and any(models.square_hidden_layers(w))).double()
            for w, r in zip(widths, residual)]


def _mixed_members():
    """Members of one depth and several widths and activations (PReLU among them)."""
    members = []
    for activation, width in (("leaky_relu", 2), ("leaky_relu", 5), ("prelu", 3), ("tanh", 4), ("identity", 5)):
        torch.manual_seed(width)
        members.append(models.MLP([1, width, width, 1, 1], activation=activation).double())
    return members


def _vmap_forward(mlps, X):
    """The torch.func way to evaluate members of one identical architecture in one call."""
    params, buffers = stack_module_state(mlps)
    base = copy.deepcopy(mlps[0]).to("meta")

    def one(parameters, buffer_values):
        return functional_call(base, (parameters, buffer_values), (X,))

    with torch.no_grad():
        return vmap(one)(params, buffers)


def _autograd_gradient(stack, mlps, X, y):
    """Each MLP's autograd gradient of F.mse_loss, scattered into the stack's (K, P) layout."""
    expected = torch.zeros_like(stack.theta)
    views = stack._views(expected)
    for m, mlp in enumerate(mlps):
        mlp.zero_grad()
        F.mse_loss(mlp(X), y).backward()
        for linear, p in zip(mlp.layers, stack._positions[m]):
            fan_out, fan_in = linear.weight.shape
            views[p][0][m, :fan_in, :fan_out].copy_(linear.weight.grad.T)
            views[p][1][m, 0, :fan_out].copy_(linear.bias.grad)
    return expected


def _relative(a, b):
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def test_lecture_parameter_counts_and_repeated_layers():
    stack = StackedMLP.from_seeds([[1] + [5] * k + [1, 1] for k in [3, 5, 10, 15, 45]], seeds=0)
    assert stack.n_parameters() == [78, 138, 288, 438, 1338]
    for m, mlp in enumerate(stack.to_mlps()):
        assert models.count_parameters(mlp) == stack.n_parameters()[m]
    assert repeated_layers([1, 5, 5, 5, 1, 1]) == 3 and repeated_layers([4, 4, 4, 3, 3, 2]) == 2
    assert repeated_layers([1, 5, 1]) == 1
    prelu = StackedMLP.from_mlps(_mixed_members())
    assert prelu.n_parameters() == [models.count_parameters(m) for m in _mixed_members()]


@pytest.mark.parametrize("activation", ["leaky_relu", "tanh", "relu", "elu"])
def test_forward_of_depth_padded_members_matches_each_mlp(activation):
    mlps = _mlps([1, 2, 4, 4, 2], [False, True, False, True, True], activation)
    stack = StackedMLP.from_mlps(mlps)
    X, _ = _inputs()
    out = stack(X)  # (K, N, 1)
    assert out.shape == (5, 7, 1)
    for m, mlp in enumerate(mlps):
        torch.testing.assert_close(out[m], mlp(X), rtol=1e-12, atol=1e-12)


def test_forward_with_residual_first_and_tail_layers():
    # n_in == width makes the first layer residual; tail [3, 3, 2] has a residual 3 -> 3 layer.
    mlps = _mlps([2, 3], [True, True], "tanh", n_in=4, width=4, tail=(3, 3, 2))
    assert mlps[0].residual_mask[0] and mlps[0].residual_mask[-1]
    stack = StackedMLP.from_mlps(mlps)
    X, _ = _inputs(n_in=4)
    for m, mlp in enumerate(mlps):
        torch.testing.assert_close(stack(X)[m], mlp(X), rtol=1e-12, atol=1e-12)


def test_forward_of_width_padded_members_with_their_own_activations():
    members = _mixed_members()
    stack = StackedMLP.from_mlps(members)
    assert stack.activations == ["leaky_relu", "leaky_relu", "prelu", "tanh", "identity"]
    X, _ = _inputs(n=12)
    with torch.no_grad():
        for m, member in enumerate(members):
            torch.testing.assert_close(stack(X)[m], member(X), rtol=0, atol=1e-12)


def test_width_and_depth_padding_together():
    torch.manual_seed(3)
    mlps = [models.MLP(w, "tanh", residual=r).double() for w, r in
            (([1, 3, 3, 3, 1], True), ([1, 5, 1], False), ([1, 4, 4, 4, 4, 1], True))]
    stack = StackedMLP.from_mlps(mlps)
    X, y = _inputs(n=9)
    for m, mlp in enumerate(mlps):
        torch.testing.assert_close(stack(X)[m], mlp(X), rtol=1e-12, atol=1e-12)
    _, gradient = stack.loss_and_gradient(X, y)
    assert _relative(gradient, _autograd_gradient(stack, mlps, X, y)) < TIGHT


def test_forward_matches_torch_func_vmap():
    mlps = _mlps([3, 3, 3], [True, True, True], seed=5)
    X, _ = _inputs()
    batched = _vmap_forward(mlps, X)
    for m, mlp in enumerate(mlps):
        torch.testing.assert_close(batched[m], mlp(X), rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        torch.testing.assert_close(StackedMLP.from_mlps(mlps)(X), batched, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", ["leaky_relu", "tanh", "sigmoid"])
def test_written_gradient_matches_autograd(activation):
    mlps = _mlps([1, 3, 6, 6], [True, False, False, True], activation, seed=3)
    stack = StackedMLP.from_mlps(mlps)
    X, y = _inputs(seed=1)
    losses, gradient = stack.loss_and_gradient(X, y)
    assert _relative(gradient, _autograd_gradient(stack, mlps, X, y)) < TIGHT
    torch.testing.assert_close(losses, torch.stack([F.mse_loss(m(X), y) for m in mlps]).detach(), rtol=1e-12, atol=0)
    # Padding blocks of the shallow members get exactly zero gradient.
    weight, bias = stack._views(gradient)[3]  # the third repeated block: used by k >= 4 only
    assert weight[:2].abs().max() == 0 and bias[:2].abs().max() == 0
    assert weight[2:].abs().max() > 0


def test_autograd_gradient_of_summed_losses_is_each_members_own():
    members = _mixed_members()
    stack = StackedMLP.from_mlps(members)
    X, y = _inputs(n=12, seed=2)
    stack.losses(X, y).sum().backward()
    expected = _autograd_gradient(stack, members, X, y)
    P = sum(i * o + o for i, o in stack._shapes)  # the layers; the PReLU slopes follow
    assert _relative(stack.theta.grad[:, :P], expected[:, :P]) < TIGHT
    slopes = stack._slope_views(stack.theta.grad)
    for j, act in enumerate(members[2].activations):
        torch.testing.assert_close(slopes[j][2, 0, :3], act.weight.grad, rtol=1e-12, atol=0)
    assert slopes[0][[0, 1, 3, 4]].abs().max() == 0  # members without PReLU have no slope to move


def test_round_trip_and_parameter_norms():
    for mlps in (_mlps([2, 4], [False, True], seed=1), _mixed_members()):
        stack = StackedMLP.from_mlps(mlps)
        X, _ = _inputs()
        for m, mlp in enumerate(mlps):
            back = stack.to_mlp(m)
            assert back.widths == mlp.widths and back.residual == mlp.residual and back.activation == mlp.activation
            with torch.no_grad():
                torch.testing.assert_close(back(X), mlp(X), rtol=0, atol=0)
            norm = torch.cat([p.detach().flatten() for p in mlp.parameters()]).norm()
            torch.testing.assert_close(stack.parameter_norms()[m], norm, rtol=1e-14, atol=0)


def test_float32_default_and_from_seeds_reproduces_mlp_initialisation():
    stack = StackedMLP.from_seeds([[1, 5, 5, 5, 1, 1], [1, 5, 5, 5, 5, 1, 1]], "leaky_relu", [False, True], [11, 12])
    assert stack.theta.dtype == torch.float32
    torch.manual_seed(12)
    reference = models.MLP([1, 5, 5, 5, 5, 1, 1], activation="leaky_relu", residual=True)
    for mine, theirs in zip(stack.to_mlp(1).parameters(), reference.parameters()):
        assert torch.equal(mine, theirs)


def test_scale_blocks_and_first_layer_gradient():
    mlps = _mlps([3, 4], [True, False], seed=2)
    stack = StackedMLP.from_mlps(mlps)
    before = stack.theta.detach().clone()
    stack.scale_blocks([0.5, 2.0])
    for m, factor in enumerate([0.5, 2.0]):
        scaled = stack.to_mlp(m)
        for j, (mine, original) in enumerate(zip(scaled.layers, mlps[m].layers)):
            expected = factor if 1 <= j < mlps[m].widths.count(5) else 1.0
            torch.testing.assert_close(mine.weight, expected * original.weight, rtol=1e-15, atol=0)
    with torch.no_grad():
        stack.theta.copy_(before)
    X, y = _inputs()
    norms = stack.first_layer_gradient_norm(X, y)
    for m, mlp in enumerate(mlps):
        mlp.zero_grad()
        F.mse_loss(mlp(X), y).backward()
        torch.testing.assert_close(norms[m], mlp.layers[0].weight.grad.norm(), rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="factors"):
        stack.scale_blocks([1.0])


def test_moves_with_dtype_and_keeps_state_dict():
    stack = StackedMLP.from_seeds([[1, 5, 5, 1, 1], [1, 5, 1, 1]], "tanh", True, [0, 1])
    X, y = _inputs()
    with torch.no_grad():
        single = stack(X.float())
    stack.double()
    assert stack.gates.dtype == torch.float64 and stack.theta.dtype == torch.float64
    with torch.no_grad():
        torch.testing.assert_close(stack(X).float(), single, rtol=1e-6, atol=1e-7)
    copy_of = StackedMLP([[1, 5, 5, 1, 1], [1, 5, 1, 1]], "tanh", True, torch.float64)
    copy_of.load_state_dict(stack.state_dict())
    assert set(stack.state_dict()) == {"theta"}
    torch.testing.assert_close(copy_of.loss_and_gradient(X, y)[1], stack.loss_and_gradient(X, y)[1], rtol=0, atol=0)


def test_residual_flag_of_a_member_without_square_layers_is_harmless():
    # [1, 5, 1, 1] has no 5 -> 5 layer, so its residual flag changes nothing
    stack = StackedMLP.from_seeds([[1, 5, 1, 1], [1, 5, 5, 1, 1]], residual=True, seeds=0)
    assert stack.to_mlp(0).residual_mask == [False, False] and stack.to_mlp(1).residual_mask[1]
    X = _inputs()[0].float()
    with torch.no_grad():
        torch.testing.assert_close(stack(X)[0], stack.to_mlp(0)(X), rtol=0, atol=0)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="widths"):
        StackedMLP([])
    with pytest.raises(ValueError, match=r"widths\[0\]"):
        StackedMLP([[1, 1]])
    with pytest.raises(ValueError, match="output size"):
        StackedMLP([[1, 5, 1], [1, 5, 2]])
    with pytest.raises(ValueError, match="element-wise"):
        StackedMLP([[1, 5, 1]], activation="maxout")
    with pytest.raises(ValueError, match="residual"):
        StackedMLP([[1, 5, 1], [1, 5, 5, 1]], residual=[True])
    with pytest.raises(TypeError, match="dtype"):
        StackedMLP([[1, 5, 1]], dtype=torch.int64)
    with pytest.raises(ValueError, match=r"sigma\(0\) != 0"):
        StackedMLP([[1, 3, 1], [1, 5, 1]], activation="sigmoid")
    with pytest.raises(ValueError, match="not square"):
        StackedMLP([[1, 3, 7, 1], [1, 5, 1]], residual=True)
    with pytest.raises(TypeError, match=r"mlps\[0\]"):
        StackedMLP.from_mlps([torch.nn.Linear(1, 1)])
    with pytest.raises(ValueError, match="normalisation"):
        StackedMLP.from_mlps([models.MLP([1, 5, 1], norm="layer")])
    with pytest.raises(TypeError, match="seeds"):
        StackedMLP.from_seeds([[1, 5, 1], [1, 5, 5, 1]], seeds=["a", 1])
    stack = StackedMLP.from_seeds([[1, 5, 5, 1, 1], [1, 5, 5, 5, 1, 1]], seeds=0)
    with pytest.raises(ValueError, match=r"X must have shape \(N, 1\)"):
        stack(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="y must be a tensor of shape"):
        stack.loss_and_gradient(torch.zeros(4, 1), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="member must be an index"):
        stack.to_mlp(2)
    with pytest.raises(ValueError, match="widths"):
        stack.load_mlp(0, models.MLP([1, 5, 5, 5, 1, 1], activation="leaky_relu"))
    with pytest.raises(ValueError, match="PReLU"):
        StackedMLP.from_mlps(_mixed_members()).loss_and_gradient(*_inputs())
