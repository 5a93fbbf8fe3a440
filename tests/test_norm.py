"""lecturelib.norm against torch's own layers, in float64."""

import pytest
import torch
from torch import nn

from lecturelib import models, norm

TOL = dict(rtol=1e-10, atol=1e-12)


def _randomize_affine(*layers, seed=1):
    generator = torch.Generator().manual_seed(seed)
    shape = layers[0].weight.shape
    gamma = 1 + 0.5 * torch.randn(shape, generator=generator, dtype=torch.float64)
    beta = 0.3 * torch.randn(shape, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        for layer in layers:
            layer.weight.copy_(gamma)
            layer.bias.copy_(beta)


def _compare_outputs_and_grads(ours, reference, x):
    """Same output and same gradients w.r.t. input, gamma and beta for a random upstream gradient."""
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    y1, y2 = ours(x1), reference(x2)
    torch.testing.assert_close(y1, y2, **TOL)
    upstream = torch.randn(y1.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    (y1 * upstream).sum().backward()
    (y2 * upstream).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(ours.weight.grad, reference.weight.grad, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(ours.bias.grad, reference.bias.grad, rtol=1e-9, atol=1e-11)


@pytest.fixture
def x2d():
    return 3.0 + 2.0 * torch.randn(16, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


@pytest.fixture
def x3d():
    return 1.0 + torch.randn(8, 6, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


@pytest.mark.parametrize("shape", [(16, 6), (8, 6, 5)])
def test_batch_norm_train_matches_torch(shape):
    x = 2.0 + 3.0 * torch.randn(shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    ours, ref = norm.BatchNorm(6).double(), nn.BatchNorm1d(6).double()
    _randomize_affine(ours, ref)
    _compare_outputs_and_grads(ours, ref, x)
    # running statistics after one step, then after two more batches
    torch.testing.assert_close(ours.running_mean, ref.running_mean, **TOL)
    torch.testing.assert_close(ours.running_var, ref.running_var, **TOL)
    for seed in (4, 5):
        xb = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        ours(xb), ref(xb)
    torch.testing.assert_close(ours.running_mean, ref.running_mean, **TOL)
    torch.testing.assert_close(ours.running_var, ref.running_var, **TOL)
    assert int(ours.num_batches_tracked) == int(ref.num_batches_tracked) == 3


def test_batch_norm_eval_uses_running_statistics(x2d):
    ours, ref = norm.BatchNorm(6, momentum=0.3).double(), nn.BatchNorm1d(6, momentum=0.3).double()
    _randomize_affine(ours, ref)
    for seed in range(4):
        xb = torch.randn(10, 6, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        ours(xb), ref(xb)
    ours.eval(), ref.eval()
    _compare_outputs_and_grads(ours, ref, x2d)
    # in eval mode a sample's output does not depend on the rest of the batch ...
    torch.testing.assert_close(ours(x2d[:1]), ours(x2d)[:1], **TOL)
    # ... but in training mode it does, and eval output differs from train output
    ours.train()
    assert not torch.allclose(ours(x2d[:4])[0], ours(x2d)[0])
    train_out = ours(x2d)
    ours.eval()
    assert (train_out - ours(x2d)).abs().max() > 0.1


def test_batch_norm_backward_function_matches_autograd(x3d):
    gamma = torch.linspace(0.5, 2.0, 6, dtype=torch.float64)
    beta = torch.linspace(-1.0, 1.0, 6, dtype=torch.float64)
    x = x3d.clone().requires_grad_(True)
    g, b = gamma.clone().requires_grad_(True), beta.clone().requires_grad_(True)
    # reference: autograd through elementary operations
    mean = x.mean(dim=(0, 2), keepdim=True)
    var = x.var(dim=(0, 2), unbiased=False, keepdim=True)
    y_ref = g.view(1, -1, 1) * (x - mean) / torch.sqrt(var + 1e-5) + b.view(1, -1, 1)
    upstream = torch.randn(y_ref.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    grads_ref = torch.autograd.grad((y_ref * upstream).sum(), (x, g, b))
    y, cache = norm.batch_norm_forward(x3d, gamma, beta)
    torch.testing.assert_close(y, y_ref.detach(), **TOL)
    for ours, ref in zip(norm.batch_norm_backward(upstream, cache), grads_ref):
        torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-11)


def test_batch_norm_function_gradcheck():
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64, requires_grad=True)
    gamma = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64, requires_grad=True)
    beta = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: norm.BatchNormFunction.apply(a, b, c, 1e-5)[0], (x, gamma, beta))


def test_batch_norm_backward_sums_to_zero(x2d):
    """The input gradient is orthogonal to shifts and (for eps -> 0) to rescalings of each channel."""
    y, cache = norm.batch_norm_forward(x2d, torch.ones(6, dtype=torch.float64), torch.zeros(6, dtype=torch.float64),
                                       eps=1e-14)
    upstream = torch.randn(x2d.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    grad_x, _, _ = norm.batch_norm_backward(upstream, cache)
    torch.testing.assert_close(grad_x.sum(0), torch.zeros(6, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close((grad_x * cache["x_hat"]).sum(0), torch.zeros(6, dtype=torch.float64), rtol=0, atol=1e-12)


def test_layer_norm_matches_torch(x2d, x3d):
    for x, shape in ((x2d, 6), (x3d, (6, 5))):
        ours, ref = norm.LayerNorm(shape).double(), nn.LayerNorm(shape).double()
        _randomize_affine(ours, ref)
        _compare_outputs_and_grads(ours, ref, x)
        ours.eval(), ref.eval()
        torch.testing.assert_close(ours(x), ref(x), **TOL)


@pytest.mark.parametrize("groups", [1, 2, 3, 6])
def test_group_norm_matches_torch(groups, x2d, x3d):
    for x in (x2d, x3d):
        ours, ref = norm.GroupNorm(groups, 6).double(), nn.GroupNorm(groups, 6).double()
        _randomize_affine(ours, ref)
        _compare_outputs_and_grads(ours, ref, x)


def test_instance_norm_matches_torch_and_train_equals_eval(x3d):
    ours, ref = norm.InstanceNorm(6).double(), nn.InstanceNorm1d(6, affine=True).double()
    _randomize_affine(ours, ref)
    _compare_outputs_and_grads(ours, ref, x3d)
    ours.eval(), ref.eval()
    torch.testing.assert_close(ours(x3d), ref(x3d), **TOL)
    # group norm with one channel per group is instance norm
    gn = norm.GroupNorm(6, 6).double()
    _randomize_affine(gn, ours)
    torch.testing.assert_close(gn(x3d), ours(x3d), **TOL)


def test_weight_norm_matches_torch_parametrization():
    torch.manual_seed(0)
    linear = nn.Linear(5, 4).double()
    ours = norm.WeightNormLinear.from_linear(linear)
    ref = nn.utils.parametrizations.weight_norm(nn.Linear(5, 4).double())
    with torch.no_grad():
        ref.parametrizations.weight.original0.copy_(ours.weight_g.unsqueeze(1) * 1.7)
        ref.parametrizations.weight.original1.copy_(ours.weight_v)
        ours.weight_g.mul_(1.7)
        ref.bias.copy_(ours.bias)
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x), **TOL)
    ours(x).pow(2).sum().backward()
    ref(x).pow(2).sum().backward()
    torch.testing.assert_close(ours.weight_g.grad, ref.parametrizations.weight.original0.grad.squeeze(1), **TOL)
    torch.testing.assert_close(ours.weight_v.grad, ref.parametrizations.weight.original1.grad, **TOL)
    # the reparameterisation starts from the same function, and the gradient w.r.t. v is orthogonal to v
    torch.testing.assert_close(norm.WeightNormLinear.from_linear(linear)(x), linear(x), **TOL)
    torch.testing.assert_close((ours.weight_v.grad * ours.weight_v).sum(1), torch.zeros(4, dtype=torch.float64),
                               rtol=0, atol=1e-10)


def test_modules_plug_into_mlp():
    torch.manual_seed(0)
    x = torch.randn(12, 4)
    for factory, expected in ((norm.BatchNorm, norm.BatchNorm), (norm.LayerNorm, norm.LayerNorm),
                              (norm.group_norm(2), norm.GroupNorm)):
        model = models.MLP([4, 6, 6, 3], activation="tanh", norm=factory)
        assert all(isinstance(layer, expected) for layer in model.norms)
        assert model(x).shape == (12, 3)
    model = models.MLP([4, 6, 6, 3], activation="tanh")
    before = model(x)
    norm.weight_normalize(model)
    assert all(isinstance(layer, norm.WeightNormLinear) for layer in model.layers)
    torch.testing.assert_close(model(x), before, rtol=1e-5, atol=1e-6)


def test_normalized_axes_labels():
    assert norm.normalized_axes("batch", (2, 2, 1)) == [[[0], [1]], [[0], [1]]]
    assert norm.normalized_axes("layer", (2, 2, 1)) == [[[0], [0]], [[1], [1]]]
    assert norm.normalized_axes("instance", (2, 2, 1)) == [[[0], [1]], [[2], [3]]]
    assert norm.normalized_axes("group2", (1, 4, 1)) == [[[0], [0], [1], [1]]]


def test_bad_inputs():
    with pytest.raises(ValueError, match="more than one value per channel"):
        norm.BatchNorm(3)(torch.randn(1, 3))
    with pytest.raises(ValueError, match="3 channels"):
        norm.BatchNorm(3)(torch.randn(4, 5))
    with pytest.raises(TypeError, match="floating-point"):
        norm.BatchNorm(3)(torch.ones(4, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="torch.Tensor"):
        norm.LayerNorm(3)([[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match="momentum"):
        norm.BatchNorm(3, momentum=1.5)
    with pytest.raises(ValueError, match="num_features"):
        norm.BatchNorm(0)
    with pytest.raises(ValueError, match="divisible"):
        norm.GroupNorm(4, 6)
    with pytest.raises(ValueError, match="spatial"):
        norm.InstanceNorm(3)(torch.randn(4, 3, 1))
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        norm.InstanceNorm(3)(torch.randn(4, 3))
    with pytest.raises(ValueError, match="end in shape"):
        norm.LayerNorm(3)(torch.randn(4, 5))
    with pytest.raises(ValueError, match="gamma"):
        norm.batch_norm_forward(torch.randn(4, 3), torch.ones(2), torch.zeros(3))
    with pytest.raises(ValueError, match="grad_y"):
        _, cache = norm.batch_norm_forward(torch.randn(4, 3), torch.ones(3), torch.zeros(3))
        norm.batch_norm_backward(torch.randn(4, 2), cache)
    with pytest.raises(TypeError, match="cache"):
        norm.batch_norm_backward(torch.randn(4, 3), {})
    with pytest.raises(TypeError, match="nn.Linear"):
        norm.WeightNormLinear.from_linear(nn.Conv1d(2, 2, 3))
    with pytest.raises(ValueError, match="method"):
        norm.normalized_axes("pixel", (2, 3))
    with pytest.raises(ValueError, match="num_groups"):
        norm.group_norm(0)


# ------------------------------------------------------------------ batch renormalisation (Ioffe 2017)

def _batch_renorm_reference(x, gamma, beta, running_mean, running_var, rmax, dmax, momentum, eps=1e-5):
    """Algorithm 1 of Ioffe (2017) written out per channel in float64 (loops, no broadcasting);
    returns y, the running statistics after the step, r, d and the closed-form input gradient
    for the upstream gradient g, with r and d held constant."""
    n, c = x.shape
    y, r_all, d_all = torch.empty_like(x), [], []
    new_mean, new_var = running_mean.clone(), running_var.clone()
    parts = []
    for k in range(c):
        column = [float(x[i, k]) for i in range(n)]
        mu_b = sum(column) / n
        var_b = sum((v - mu_b) ** 2 for v in column) / n
        sigma_b = (var_b + eps) ** 0.5
        sigma = (float(running_var[k]) + eps) ** 0.5
        r = min(max(sigma_b / sigma, 1 / rmax), rmax)
        d = min(max((mu_b - float(running_mean[k])) / sigma, -dmax), dmax)
        for i in range(n):
            y[i, k] = float(gamma[k]) * ((column[i] - mu_b) / sigma_b * r + d) + float(beta[k])
        new_mean[k] = (1 - momentum) * float(running_mean[k]) + momentum * mu_b
        new_var[k] = (1 - momentum) * float(running_var[k]) + momentum * var_b * n / (n - 1)
        r_all.append(r)
        d_all.append(d)
        parts.append((mu_b, sigma_b, r, d))
    return y, new_mean, new_var, r_all, d_all, parts


def _batch_renorm_grad_reference(x, g, gamma, parts):
    """dl/dx = gamma r / sigma_B (g - mean g - x_hat mean(g x_hat)), x_hat = (x - mu_B) / sigma_B, and
    dl/dgamma = sum g (x_hat r + d), dl/dbeta = sum g, per channel, written out."""
    n, c = x.shape
    grad_x, grad_gamma, grad_beta = torch.empty_like(x), torch.empty(c, dtype=x.dtype), torch.empty(c, dtype=x.dtype)
    for k, (mu_b, sigma_b, r, d) in enumerate(parts):
        x_hat = [(float(x[i, k]) - mu_b) / sigma_b for i in range(n)]
        gk = [float(g[i, k]) for i in range(n)]
        mean_g = sum(gk) / n
        mean_gx = sum(a * b for a, b in zip(gk, x_hat)) / n
        for i in range(n):
            grad_x[i, k] = float(gamma[k]) * r / sigma_b * (gk[i] - mean_g - x_hat[i] * mean_gx)
        grad_gamma[k] = sum(a * (b * r + d) for a, b in zip(gk, x_hat))
        grad_beta[k] = sum(gk)
    return grad_x, grad_gamma, grad_beta


def test_batch_renorm_matches_the_written_out_algorithm_with_clipping():
    generator = torch.Generator().manual_seed(11)
    layer = norm.BatchRenorm(4, rmax=2.0, dmax=1.5, momentum=0.3).double()
    _randomize_affine(layer)
    with torch.no_grad():  # running statistics far enough from the batch's that some r and d clip
        layer.running_mean.copy_(torch.tensor([0.0, 3.0, -1.0, 0.5], dtype=torch.float64))
        layer.running_var.copy_(torch.tensor([1.0, 0.1, 4.0, 0.9], dtype=torch.float64))
    scale = torch.tensor([1.2, 1.0, 0.5, 3.5], dtype=torch.float64)
    x = torch.tensor([0.3, 1.0, 0.0, -0.2], dtype=torch.float64) + scale * torch.randn(12, 4, generator=generator,
                                                                                        dtype=torch.float64)
    gamma, beta = layer.weight.detach().clone(), layer.bias.detach().clone()
    y_ref, mean_ref, var_ref, r, d, parts = _batch_renorm_reference(
        x, gamma, beta, layer.running_mean.clone(), layer.running_var.clone(), 2.0, 1.5, 0.3)
    assert max(r) == 2.0 and min(r) == 0.5 and 1.5 in [abs(v) for v in d]  # both clips are exercised
    assert any(0.5 < v < 2.0 for v in r) and any(abs(v) < 1.5 for v in d)
    xr = x.clone().requires_grad_(True)
    y = layer(xr)
    torch.testing.assert_close(y, y_ref, **TOL)
    torch.testing.assert_close(layer.running_mean, mean_ref, **TOL)
    torch.testing.assert_close(layer.running_var, var_ref, **TOL)
    upstream = torch.randn(y.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    (y * upstream).sum().backward()
    grad_x, grad_gamma, grad_beta = _batch_renorm_grad_reference(x, upstream, gamma, parts)
    torch.testing.assert_close(xr.grad, grad_x, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(layer.weight.grad, grad_gamma, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(layer.bias.grad, grad_beta, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("shape", [(16, 6), (8, 6, 5)])
def test_batch_renorm_with_rmax_1_dmax_0_is_batch_norm(shape):
    x = 2.0 + 3.0 * torch.randn(shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    ours, ref = norm.BatchRenorm(6, rmax=1.0, dmax=0.0).double(), norm.BatchNorm(6).double()
    _randomize_affine(ours, ref)
    _compare_outputs_and_grads(ours, ref, x)
    for seed in (4, 5):
        xb = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        torch.testing.assert_close(ours(xb), ref(xb), **TOL)
    torch.testing.assert_close(ours.running_mean, ref.running_mean, **TOL)
    torch.testing.assert_close(ours.running_var, ref.running_var, **TOL)
    ours.eval(), ref.eval()
    torch.testing.assert_close(ours(x), ref(x), **TOL)


def test_batch_renorm_without_clipping_computes_the_evaluation_map_in_training():
    x = 1.0 + 2.0 * torch.randn(32, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    layer = norm.BatchRenorm(3, rmax=1e6, dmax=1e6).double()
    _randomize_affine(layer)
    with torch.no_grad():
        layer.running_mean.fill_(0.8)
        layer.running_var.fill_(3.0)
    evaluation = layer.eval()(x)
    torch.testing.assert_close(layer.train()(x), evaluation, **TOL)


def test_batch_renorm_ramps_its_bounds():
    layer = norm.BatchRenorm(2, rmax=3.0, dmax=5.0, ramp_steps=4)
    assert layer.bounds() == (1.0, 0.0)
    for _ in range(2):
        layer(torch.randn(5, 2))
    assert layer.bounds() == (2.0, 2.5)
    for _ in range(4):
        layer(torch.randn(5, 2))
    assert layer.bounds() == (3.0, 5.0) and int(layer.num_batches_tracked) == 6
    model = models.MLP([3, 8, 2], "relu", norm=norm.BatchRenorm)
    assert isinstance(model.norms[0], norm.BatchRenorm) and model(torch.randn(4, 3)).shape == (4, 2)
    with pytest.raises(ValueError, match="batch renorm"):
        norm.BatchRenorm(2)(torch.randn(1, 2))


# ------------------------------------------------------------------ bad input gets a clear error

@pytest.mark.parametrize("call, name", [
    (lambda: norm.batch_norm_forward(torch.randn(4, 3), torch.ones(3), torch.zeros(3), eps=float("nan")), "eps"),
    (lambda: norm.batch_norm_forward(torch.randn(4, 3), torch.ones(3), torch.zeros(3), eps=float("inf")), "eps"),
    (lambda: norm.BatchNorm(3, eps=float("nan")), "eps"),
    (lambda: norm.BatchNorm(3, momentum=float("nan")), "momentum"),
    (lambda: norm.LayerNorm(3, eps=float("nan")), "eps"),
    (lambda: norm.GroupNorm(1, 3, eps=float("inf")), "eps"),
    (lambda: norm.InstanceNorm(3, eps=-1.0), "eps"),
    (lambda: norm.BatchRenorm(3, rmax=0.5), "rmax"),
    (lambda: norm.BatchRenorm(3, rmax=float("nan")), "rmax"),
    (lambda: norm.BatchRenorm(3, dmax=-1.0), "dmax"),
    (lambda: norm.BatchRenorm(3, ramp_steps=-1), "ramp_steps"),
])
def test_nan_infinite_and_non_positive_numbers_are_refused(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize("call, name", [
    (lambda: norm.BatchNorm(2.5), "num_features"),
    (lambda: norm.BatchNorm(3, eps="1e-5"), "eps"),
    (lambda: norm.group_norm(2.0), "num_groups"),
    (lambda: norm.BatchRenorm(3, ramp_steps=1.5), "ramp_steps"),
])
def test_wrong_kinds_are_type_errors(call, name):
    with pytest.raises(TypeError, match=name):
        call()
