"""lecturelib.init against torch.nn.init (moments of large draws) and torch.autograd (gradients)."""

import math

import pytest
import torch
from torch import nn

from lecturelib import init, models


FAN_OUT, FAN_IN = 300, 700  # a non-square layer tells fan_in from fan_out


def _draw(scheme, seed=0):
    weight = torch.empty(FAN_OUT, FAN_IN, dtype=torch.float64)
    return init.init_weight_(weight, scheme, torch.Generator().manual_seed(seed))


def _torch_draw(fill):
    torch.manual_seed(1)
    weight = torch.empty(FAN_OUT, FAN_IN, dtype=torch.float64)
    fill(weight)
    return weight


TORCH_REFERENCES = {
    "xavier_normal": lambda w: nn.init.xavier_normal_(w),
    "xavier_uniform": lambda w: nn.init.xavier_uniform_(w),
    "he_normal": lambda w: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu"),
    "he_uniform": lambda w: nn.init.kaiming_uniform_(w, mode="fan_in", nonlinearity="relu"),
    "lecun_normal": lambda w: nn.init.normal_(w, 0.0, 1.0 / math.sqrt(FAN_IN)),
    "standard": lambda w: nn.init.uniform_(w, -1 / math.sqrt(FAN_IN), 1 / math.sqrt(FAN_IN)),
    0.01: lambda w: nn.init.normal_(w, 0.0, 0.01),
    "zero": lambda w: nn.init.zeros_(w),
}


@pytest.mark.parametrize("scheme", list(TORCH_REFERENCES))
def test_moments_match_torch_nn_init(scheme):
    ours, theirs = _draw(scheme), _torch_draw(TORCH_REFERENCES[scheme])
    # 210,000 draws: the sample std has relative error ~ 1/sqrt(2 n) = 0.15%; allow 1%.
    assert abs(float(ours.mean())) <= 0.01 * max(float(theirs.std()), 1e-12) + 1e-15
    assert float(ours.std()) == pytest.approx(float(theirs.std()), rel=0.01, abs=1e-15)
    assert float(ours.std()) == pytest.approx(init.weight_std(scheme, FAN_IN, FAN_OUT), rel=0.01, abs=1e-15)
    # the support agrees too: uniform schemes share the bound, Gaussian ones are unbounded
    assert float(ours.abs().max()) == pytest.approx(float(theirs.abs().max()), rel=0.05, abs=1e-15)


def test_uniform_bounds_are_the_papers():
    assert float(_draw("xavier_uniform").abs().max()) <= math.sqrt(6 / (FAN_IN + FAN_OUT))
    assert float(_draw("xavier_uniform").abs().max()) > 0.999 * math.sqrt(6 / (FAN_IN + FAN_OUT))
    assert float(_draw("standard").abs().max()) <= 1 / math.sqrt(FAN_IN)
    assert float(_draw("he_uniform").abs().max()) <= math.sqrt(6 / FAN_IN)


def test_fourth_moment_tells_normal_from_uniform():
    # kurtosis: 3 for a Gaussian, 1.8 for a uniform distribution
    for scheme, kurtosis in (("xavier_normal", 3.0), ("xavier_uniform", 1.8)):
        w = _draw(scheme)
        assert float((w ** 4).mean() / (w ** 2).mean() ** 2) == pytest.approx(kurtosis, abs=0.05)


def test_aliases_and_seeding():
    assert init.resolve_scheme("Kaiming") == ("he_normal", None)
    assert init.resolve_scheme("glorot-uniform") == ("xavier_uniform", None)
    assert init.resolve_scheme(0.5) == ("gaussian", 0.5)
    assert torch.equal(_draw("he_normal", seed=3), _draw("he_normal", seed=3))
    assert not torch.equal(_draw("he_normal", seed=3), _draw("he_normal", seed=4))


def test_initialize_sets_every_linear_layer_and_bias():
    model = models.MLP([64, 200, 200, 10], activation="tanh")
    init.initialize(model, "xavier_uniform", bias=0.1, seed=0)
    for layer in model.layers:
        fan_out, fan_in = layer.weight.shape
        assert float(layer.weight.detach().abs().max()) <= math.sqrt(6 / (fan_in + fan_out))
        assert torch.all(layer.bias == 0.1)
    init.initialize(model, "zero")
    assert all(float(p.detach().abs().max()) == 0 for p in model.parameters())
    again = init.initialize(models.MLP([64, 200, 10]), "he_normal", seed=5)
    twice = init.initialize(models.MLP([64, 200, 10]), "he_normal", seed=5)
    assert all(torch.equal(a, b) for a, b in zip(again.parameters(), twice.parameters()))


def _autograd_reference(X, depth, width, activation, scheme, seed):
    """Rebuild the experiment as an nn.Sequential with the same weights and use autograd."""
    generator = torch.Generator().manual_seed(seed)
    layers, fan_in = [], X.shape[1]
    for _ in range(depth):
        linear = nn.Linear(fan_in, width, bias=False).double()
        init.init_weight_(linear.weight, scheme, generator)
        layers.append(linear)
        fan_in = width
    G = torch.randn(len(X), width, generator=generator, dtype=torch.float64)
    act = models.get_activation(activation).function
    h, pres, posts = X.double(), [], []
    for linear in layers:
        s = linear(h)
        s.retain_grad()
        h = act(s)
        pres.append(s)
        posts.append(h)
    (G * h).sum().backward()
    return layers, pres, [h.detach() for h in posts]


@pytest.mark.parametrize("activation,scheme", [("tanh", "xavier_normal"), ("relu", "he_normal"),
                                               ("sigmoid", "standard"), ("tanh", 1.0)])
def test_activation_statistics_match_direct_recomputation(activation, scheme):
    X = torch.randn(64, 30, generator=torch.Generator().manual_seed(9))
    records = init.activation_statistics(X, 4, 20, activation, scheme, seed=2, keep_values=True)
    layers, pres, posts = _autograd_reference(X, 4, 20, activation, scheme, seed=2)
    assert [r.layer for r in records] == [1, 2, 3, 4]
    for record, linear, s, h in zip(records, layers, pres, posts):
        torch.testing.assert_close(record.activations, h.detach(), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(record.gradients, s.grad, rtol=1e-10, atol=1e-12)
        assert record.mean == pytest.approx(float(h.mean()), rel=1e-12, abs=1e-14)
        assert record.std == pytest.approx(float(h.std(unbiased=False)), rel=1e-12)
        assert record.grad_std == pytest.approx(float(s.grad.std(unbiased=False)), rel=1e-10)
        assert record.weight_grad_std == pytest.approx(float(linear.weight.grad.std(unbiased=False)), rel=1e-10)
        assert record.zero_fraction == pytest.approx(float((h == 0).double().mean()))
        if activation == "tanh":
            assert record.saturated_fraction == pytest.approx(float((h.abs() > 0.99).double().mean()))
        elif activation == "sigmoid":
            assert record.saturated_fraction == pytest.approx(float(((h > 0.99) | (h < 0.01)).double().mean()))
        else:
            assert math.isnan(record.saturated_fraction)


def test_lecture_experiment_claims():
    # the lecture's 1000 x 500, 10 x 500 experiment at 400 x 200, 10 x 200 (same claims, faster)
    X = torch.randn(400, 200, generator=torch.Generator().manual_seed(0))
    small = init.activation_statistics(X, 10, 200, "tanh", 0.01)
    assert small[-1].std < 1e-5 * small[0].std  # collapses to 0
    big = init.activation_statistics(X, 10, 200, "tanh", 1.0)
    assert all(r.saturated_fraction > 0.8 for r in big)  # tanh saturated
    he = init.activation_statistics(X, 10, 200, "relu", "he_normal")
    assert 0.5 < he[-1].std / he[0].std < 2.0
    assert all(abs(r.zero_fraction - 0.5) < 0.05 for r in he)


def test_statistics_table_and_hidden_layer_statistics():
    X = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    records = init.activation_statistics(X, 2, 6, "relu", "he_normal")
    table = init.statistics_table(records, ("mean", "std", "saturated_fraction"))
    assert table.splitlines()[0].split() == ["layer", "mean", "std", "saturated_fraction"]
    assert len(table.splitlines()) == 3 and table.splitlines()[1].split()[-1] == "-"
    model = models.MLP([8, 6, 5, 3], activation="sigmoid")
    stats = init.hidden_layer_statistics(model, X)
    with torch.no_grad():
        states = model.forward_with_states(X)["post"]
    assert stats["mean"] == pytest.approx([float(h.mean()) for h in states], rel=1e-6)
    assert model.training  # mode restored


def test_bad_inputs_name_the_argument():
    X = torch.randn(10, 4)
    with pytest.raises(ValueError, match="unknown init scheme 'glorious'"):
        init.resolve_scheme("glorious")
    with pytest.raises(ValueError, match="needs a scale"):
        init.resolve_scheme("gaussian")
    with pytest.raises(ValueError, match="positive finite"):
        init.resolve_scheme(-0.1)
    with pytest.raises(TypeError, match="init scheme"):
        init.resolve_scheme(True)
    with pytest.raises(ValueError, match="weight must have 2 dimensions"):
        init.init_weight_(torch.empty(3), "he")
    with pytest.raises(TypeError, match="floating-point"):
        init.init_weight_(torch.empty(3, 3, dtype=torch.int64), "he")
    with pytest.raises(ValueError, match="fan_in must be an int >= 1"):
        init.weight_std("he", 0, 3)
    with pytest.raises(TypeError, match="model must be"):
        init.initialize("not a model", "he")
    with pytest.raises(ValueError, match="bias must be"):
        init.initialize(models.MLP([2, 2]), "he", bias=float("nan"))
    with pytest.raises(ValueError, match="depth must be an int >= 1"):
        init.activation_statistics(X, 0, 5, "tanh", "xavier")
    with pytest.raises(TypeError, match="width must be an int"):
        init.activation_statistics(X, 2, 2.5, "tanh", "xavier")
    with pytest.raises(ValueError, match="X must have 2 dimensions"):
        init.activation_statistics(torch.randn(10), 2, 5, "tanh", "xavier")
    with pytest.raises(ValueError, match="X must be a .samples, features. matrix with at least 2 rows"):
        init.activation_statistics(torch.randn(1, 4), 2, 5, "tanh", "xavier")
    with pytest.raises(ValueError, match="X holds 1 NaN"):
        init.activation_statistics(torch.tensor([[1.0], [float("nan")]]), 2, 5, "tanh", "xavier")
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None"):
        init.init_weight_(torch.empty(3, 3), "he", generator=0)
    with pytest.raises(ValueError, match="digits must be an int >= 1 and <= 10"):
        init.statistics_table(init.activation_statistics(X, 1, 3, "tanh", 0.1), digits=11)
    with pytest.raises(ValueError, match="not element-wise"):
        init.activation_statistics(X, 2, 4, "maxout", "xavier")
    with pytest.raises(ValueError, match="unknown activation"):
        init.activation_statistics(X, 2, 4, "swish", "xavier")
    with pytest.raises(ValueError, match=r"output_gradient must be a tensor of shape \(10, 5\)"):
        init.activation_statistics(X, 2, 5, "tanh", "xavier", output_gradient=torch.randn(10, 4))
    with pytest.raises(ValueError, match="unknown column"):
        init.statistics_table(init.activation_statistics(X, 1, 3, "tanh", 0.1), ("median",))


@pytest.mark.parametrize("call, error, name", [
    (lambda split, net: init.initialize(net, "he", seed=1.5), TypeError, "seed"),
    (lambda split, net: init.activation_statistics(torch.randn(10, 4), 2, 5, "tanh", "xavier", seed=-1), ValueError,
     "seed"),
    (lambda split, net: init.activation_statistics(torch.randn(10, 4), 2, 5, "tanh", "xavier",
                                                   saturation_threshold=float("nan")), ValueError,
     "saturation_threshold"),
])
def test_numbers_are_checked_nan_safely(call, error, name):
    from lecturelib import data

    split = data.toy_2d("blobs", n_samples=90, seed=0)
    with pytest.raises(error, match=name):
        call(split, models.MLP([2, 8, 3], "sigmoid"))


# ------------------------------------------------------------------------------ orthogonal, Jacobians

@pytest.mark.parametrize("shape", [(300, 700), (700, 300), (64, 64)])
def test_orthogonal_scheme_is_semi_orthogonal(shape):
    weight = init.init_weight_(torch.empty(*shape, dtype=torch.float64), "orthogonal", torch.Generator().manual_seed(0))
    rows, cols = shape
    gram = weight @ weight.T if rows <= cols else weight.T @ weight
    assert torch.allclose(gram, torch.eye(min(shape), dtype=torch.float64), atol=1e-12)
    assert torch.allclose(torch.linalg.svdvals(weight), torch.ones(min(shape), dtype=torch.float64), atol=1e-12)
    assert float(weight.pow(2).mean().sqrt()) == pytest.approx(init.weight_std("orthogonal", cols, rows), rel=1e-12)


def test_orthogonal_entries_are_distributed_as_torch_nn_init_orthogonal():
    ours, theirs = _draw("orthogonal"), _torch_draw(nn.init.orthogonal_)
    levels = torch.tensor([0.01, 0.1, 0.5, 0.9, 0.99], dtype=torch.float64)
    # 210,000 entries, nearly Gaussian of std 1/sqrt(700): these quantiles agree to well within 3%
    assert torch.allclose(ours.flatten().quantile(levels), theirs.flatten().quantile(levels), rtol=0.03, atol=1e-4)
    assert float(ours.std()) == pytest.approx(float(theirs.std()), rel=1e-6)


def test_random_network_weights_are_the_networks_of_activation_statistics():
    X = torch.randn(50, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    weights = init.random_network_weights(3, 9, 6, "xavier_uniform", seed=4)
    assert [tuple(W.shape) for W in weights] == [(9, 6), (9, 9), (9, 9)]
    h = X
    records = init.activation_statistics(X, 3, 9, "tanh", "xavier_uniform", seed=4)
    for W, record in zip(weights, records):
        h = torch.tanh(h @ W.T)
        assert float(h.std(unbiased=False)) == pytest.approx(record.std, rel=1e-12)


@pytest.mark.parametrize("activation,scheme", [("tanh", "standard"), ("tanh", "orthogonal"), ("sigmoid", "xavier_uniform")])
def test_jacobians_and_singular_values_match_autograd(activation, scheme):
    X = torch.randn(4, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    depth, width = 3, 7
    weights = init.random_network_weights(depth, width, 5, scheme, seed=3)
    act = models.get_activation(activation).function
    jacobians = init.layer_jacobians(X, weights, activation)
    spectra = init.jacobian_singular_values(X, depth, width, activation, scheme, seed=3)

    def network(x, upto):
        for W in weights[:upto]:
            x = act(W @ x)
        return x

    for n, x in enumerate(X):
        h = x
        for l, W in enumerate(weights):
            reference = torch.func.jacrev(lambda v, W=W: act(W @ v))(h)  # (fan_out, fan_in)
            assert torch.allclose(jacobians[l][n], reference, rtol=0, atol=1e-12)
            assert torch.allclose(spectra.layers[l][n], torch.linalg.svdvals(reference), rtol=0, atol=1e-10)
            h = act(W @ h)
        whole = torch.autograd.functional.jacobian(lambda v: network(v, depth), x)  # (width, n_in)
        assert torch.allclose(spectra.input_output[n], torch.linalg.svdvals(whole), rtol=0, atol=1e-10)
    assert [tuple(s.shape) for s in spectra.layers] == [(4, 5), (4, 7), (4, 7)]


def test_singular_values_follow_the_quarter_circle_mean():
    # linear regime: tiny inputs, so tanh' = 1 and J = W; mean singular value 8/(3 pi) sqrt(n) sigma_w
    X = 1e-6 * torch.randn(2, 400, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for scheme, n_var in (("standard", 1 / 3), ("xavier_uniform", 1.0)):
        spectra = init.jacobian_singular_values(X, 2, 400, "tanh", scheme, seed=0)
        # finite-n deviation from the quarter-circle mean is ~1/n; allow 2%
        assert float(spectra.layers[1].mean()) == pytest.approx(8 / (3 * math.pi) * math.sqrt(n_var), rel=0.02)
    ortho = init.jacobian_singular_values(X, 2, 400, "tanh", "orthogonal", seed=0)
    assert torch.allclose(ortho.input_output, torch.ones_like(ortho.input_output), atol=1e-9)


def test_jacobian_inputs_are_checked():
    X = torch.randn(3, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"weights\[1\] has 6 columns"):
        init.layer_jacobians(X, [torch.randn(5, 4), torch.randn(5, 6)], "tanh")
    with pytest.raises(TypeError, match="weights must be a non-empty list"):
        init.layer_jacobians(X, [], "tanh")
    with pytest.raises(ValueError, match="not element-wise"):
        init.layer_jacobians(X, [torch.randn(5, 4)], "maxout")
    with pytest.raises(ValueError, match="n_in must be an int >= 1"):
        init.random_network_weights(2, 3, 0, "standard")
    with pytest.raises(ValueError, match="unknown init scheme"):
        init.jacobian_singular_values(X, 2, 3, "tanh", "orthogonale")
