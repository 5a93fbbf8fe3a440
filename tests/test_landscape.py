"""lecturelib.landscape against Li et al.'s normalisation formulas, closed-form quadratic surfaces
and direct float64 evaluation of the moved networks (train.evaluate), engine against engine."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from lecturelib import landscape as L
from lecturelib import params
from lecturelib.landscape.engine import evaluate_affine, first_linear_layer, forward_macs
from lecturelib.models import MLP, rescale_layers
from lecturelib.models.convnets import ResNet
from lecturelib.train import evaluate


@pytest.fixture(autouse=True)
def _float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _mlp(seed=0, widths=(3, 6, 5, 4), activation="leaky_relu"):
    torch.manual_seed(seed)
    return MLP(list(widths), activation).double()


def _classification(n=40, d=3, k=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randint(0, k, (n,), generator=g)


def _set_state(model, origin, directions, coefficients):
    moved = copy.deepcopy(model)
    with torch.no_grad():
        for name, tensor in list(moved.named_parameters()) + list(moved.named_buffers()):
            if name in origin:
                tensor.copy_(origin[name])
            for d, c in zip(directions, coefficients):
                if name in d:
                    tensor.add_(c * d[name])
    return moved


# ----------------------------------------------------------------------------- directions

def test_filter_direction_has_per_filter_norms_of_weights():
    model = _mlp()
    direction = L.random_direction(model, norm="filter", ignore="biasbn", generator=3)
    assert list(direction) == [n for n, _ in model.named_parameters()]
    for name, w in model.named_parameters():
        d = direction[name]
        assert d.shape == w.shape
        if w.dim() == 1:
            assert torch.count_nonzero(d) == 0
        else:
            torch.testing.assert_close(d.norm(dim=1), w.detach().norm(dim=1), rtol=1e-8, atol=1e-12)


def test_filter_direction_conv_filters_and_ignore_none_copies_weights():
    torch.manual_seed(0)
    model = ResNet((1, 12), blocks_per_stage=1, widths=(3, 4)).double()
    direction = L.random_direction(model, norm="filter", ignore=None, generator=0)
    for name, w in model.named_parameters():
        d = direction[name]
        if w.dim() == 1:
            torch.testing.assert_close(d, w.detach())
        else:
            torch.testing.assert_close(d.flatten(1).norm(dim=1), w.detach().flatten(1).norm(dim=1), rtol=1e-8, atol=1e-12)


def test_layer_weight_and_none_norms_match_li_et_al_formulas():
    model = _mlp()
    raw = L.random_direction(model, norm=None, ignore=None, generator=5)
    layer = L.random_direction(model, norm="layer", ignore=None, generator=5)
    weight = L.random_direction(model, norm="weight", ignore=None, generator=5)
    for name, w in model.named_parameters():
        if w.dim() > 1:
            torch.testing.assert_close(layer[name], raw[name] * w.norm() / (raw[name].norm() + 1e-10))
            torch.testing.assert_close(weight[name], raw[name] * w.detach())
            # the Gaussian draw itself: same generator, same numbers as torch.randn in float64
    g = torch.Generator().manual_seed(5)
    first = next(iter(model.named_parameters()))
    torch.testing.assert_close(raw[first[0]], torch.randn(first[1].shape, generator=g, dtype=torch.float64))


def test_states_direction_covers_batchnorm_buffers():
    torch.manual_seed(0)
    model = MLP([3, 5, 2], norm="batch").double()
    weights = L.random_direction(model, kind="weights", generator=0)
    states = L.random_direction(model, kind="states", generator=0)
    assert "norms.0.running_mean" not in weights and "norms.0.running_mean" in states
    assert "norms.0.num_batches_tracked" not in states


def test_direction_between_and_its_norm():
    a, b = _mlp(0), _mlp(1)
    d = L.direction_between(a, b)
    for name, p in a.named_parameters():
        torch.testing.assert_close(d[name], dict(b.named_parameters())[name].detach() - p.detach())
    expected = torch.sqrt(sum(((p.detach() - q.detach()) ** 2).sum() for p, q in zip(a.parameters(), b.parameters())))
    assert params.norm(d) == pytest.approx(float(expected), rel=1e-12)


# ----------------------------------------------------------------------------- surfaces

def test_quadratic_model_surface_equals_closed_form():
    """Linear least squares: L(w + a d1 + b d2) = mean((r + a X d1 + b X d2)^2), exactly quadratic."""
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(25, 4, generator=g), torch.randn(25, 1, generator=g)
    model = nn.Linear(4, 1).double()
    d1 = {"weight": torch.randn(1, 4, generator=g), "bias": torch.randn(1, generator=g)}
    d2 = {"weight": torch.randn(1, 4, generator=g)}
    result = L.plane(model, X, y, directions=(d1, d2), steps=(7, 5), span=((-2.0, 1.0), (-0.5, 0.5)), device="cpu")
    w, b = model.weight.detach(), model.bias.detach()
    r = X @ w.T + b - y  # (25, 1)
    u, v = X @ d1["weight"].T + d1["bias"], X @ d2["weight"].T
    for i, alpha in enumerate(result.alphas):
        for j, beta in enumerate(result.betas):
            expected = float(((r + alpha * u + beta * v) ** 2).mean())
            assert result.loss[i, j] == pytest.approx(expected, rel=1e-10)
    assert result.accuracy is None


@pytest.mark.parametrize("engine", ["vmap", "loop"])
def test_grid_orientation_on_non_square_grid(engine):
    model = _mlp()
    X, y = _classification()
    dirs = (L.random_direction(model, generator=1), L.random_direction(model, generator=2))
    result = L.plane(model, X, y, directions=dirs, steps=(5, 3), span=((-1.0, 1.0), (0.0, 0.4)), engine=engine,
                     device="cpu")
    assert result.loss.shape == (5, 3) and result.accuracy.shape == (5, 3)
    np.testing.assert_allclose(result.alphas, np.linspace(-1, 1, 5))
    np.testing.assert_allclose(result.betas, np.linspace(0, 0.4, 3))
    for i, j in [(0, 0), (4, 1), (2, 2), (1, 0)]:
        moved = _set_state(model, {}, dirs, (result.alphas[i], result.betas[j]))
        reference = evaluate(moved, (X, y))
        assert result.loss[i, j] == pytest.approx(reference["loss"], rel=1e-10)
        assert result.accuracy[i, j] == pytest.approx(reference["accuracy"])


def test_vmap_and_loop_engines_agree_with_first_layer_trick_and_batches():
    model = _mlp(widths=(3, 8, 8, 4))
    X, y = _classification(n=50)
    assert first_linear_layer(model, X) == "layers.0"
    dirs = [L.random_direction(model, generator=s) for s in (1, 2, 3)]
    coefficients = torch.randn(17, 3, generator=torch.Generator().manual_seed(0))
    loop = evaluate_affine(model, X, y, dirs, coefficients, engine="loop", device="cpu")
    fast = evaluate_affine(model, X, y, dirs, coefficients, engine="vmap", chunk_size=4, batch_size=15, device="cpu")
    np.testing.assert_allclose(fast[0], loop[0], rtol=1e-10)
    np.testing.assert_allclose(fast[1], loop[1])
    # a user-supplied torch loss runs under vmap too and equals the built-in cross-entropy
    import torch.nn.functional as F

    torch_loss = evaluate_affine(model, X, y, dirs, coefficients, loss_fn=F.cross_entropy, engine="vmap", device="cpu")
    np.testing.assert_allclose(torch_loss[0], loop[0], rtol=1e-10)


def test_engines_agree_on_resnet_with_batchnorm_state_directions():
    torch.manual_seed(0)
    model = ResNet((1, 6, 6), num_classes=3, blocks_per_stage=1, widths=(2, 3)).double()
    X, y = torch.randn(12, 36), torch.randint(0, 3, (12,))
    model.train()
    model(X)  # move the running statistics away from their initial values
    model.eval()
    assert first_linear_layer(model, X) == "stem.0"
    dirs = [L.random_direction(model, kind="states", ignore=None, generator=s) for s in (1, 2)]
    coefficients = torch.tensor([[0.0, 0.0], [0.3, -0.2], [-0.5, 0.1]])
    loop = evaluate_affine(model, X, y, dirs, coefficients, engine="loop", device="cpu")
    fast = evaluate_affine(model, X, y, dirs, coefficients, engine="vmap", device="cpu")
    np.testing.assert_allclose(fast[0], loop[0], rtol=1e-9)
    moved = _set_state(model, {}, dirs, (0.3, -0.2))
    assert loop[0][1] == pytest.approx(evaluate(moved, (X, y))["loss"], rel=1e-10)
    assert forward_macs(model, X) > 0


def test_origin_override_and_training_mode_untouched():
    a, b = _mlp(0), _mlp(1)
    X, y = _classification()
    a.train()
    dirs = (L.random_direction(a, generator=1), L.random_direction(a, generator=2))
    from_a = L.plane(a, X, y, directions=dirs, steps=3, origin=dict(b.named_parameters()), device="cpu")
    from_b = L.plane(b, X, y, directions=dirs, steps=3, device="cpu")
    np.testing.assert_allclose(from_a.loss, from_b.loss, rtol=1e-12)
    assert a.training  # the caller's model is left as it was


def test_line_and_interpolation_endpoints():
    a, b = _mlp(0), _mlp(1)
    X, y = _classification()
    path = L.interpolate(a, b, X, y, device="cpu")
    assert len(path.alphas) == 41 and 0.0 in path.alphas and 1.0 in path.alphas
    assert path.loss[list(path.alphas).index(0.0)] == pytest.approx(evaluate(a, (X, y))["loss"], rel=1e-10)
    assert path.loss[list(path.alphas).index(1.0)] == pytest.approx(evaluate(b, (X, y))["loss"], rel=1e-10)
    one = L.line(a, X, y, steps=11, seed=4, device="cpu")
    assert one.loss.shape == (11,) and one.betas is None
    assert one.at_origin() == pytest.approx(evaluate(a, (X, y))["loss"], rel=1e-10)


def test_relu_rescaling_changes_naive_plot_but_not_filter_normalised_plot():
    torch.manual_seed(0)
    model = MLP([1, 5, 5, 1], "relu").double()
    X = torch.linspace(-1, 1, 30).unsqueeze(1)
    y = torch.sin(3 * X)
    scaled = rescale_layers(model, [10.0, 0.2])
    torch.testing.assert_close(scaled(X), model(X))
    kwargs = dict(steps=9, seed=7, device="cpu")
    filt_a, filt_b = L.plane(model, X, y, **kwargs), L.plane(scaled, X, y, **kwargs)
    naive_a = L.plane(model, X, y, norm=None, ignore=None, **kwargs)
    naive_b = L.plane(scaled, X, y, norm=None, ignore=None, **kwargs)
    np.testing.assert_allclose(filt_a.loss, filt_b.loss, rtol=1e-9)
    assert np.max(np.abs(naive_a.loss - naive_b.loss)) > 0.1


# ----------------------------------------------------------------------------- bad input

def test_bad_inputs_raise_named_errors():
    model = _mlp()
    X, y = _classification()
    with pytest.raises(ValueError, match="norm"):
        L.random_direction(model, norm="filters")
    with pytest.raises(ValueError, match="ignore"):
        L.random_direction(model, ignore="bias")
    with pytest.raises(TypeError, match="generator"):
        L.random_direction(model, generator="seed")
    with pytest.raises(TypeError, match="model"):
        L.random_direction("not a model")
    with pytest.raises(ValueError, match="steps"):
        L.plane(model, X, y, steps=1)
    with pytest.raises(ValueError, match="span"):
        L.plane(model, X, y, span=(1.0, -1.0))
    with pytest.raises(ValueError, match="directions"):
        L.plane(model, X, y, directions=[L.random_direction(model)])
    with pytest.raises(ValueError, match="engine"):
        L.plane(model, X, y, steps=3, engine="fast")
    with pytest.raises(ValueError, match="neither a parameter"):
        L.line(model, X, y, direction={"nope": torch.zeros(1)}, steps=3)
    with pytest.raises(ValueError, match="shape"):
        L.line(model, X, y, direction={"layers.0.weight": torch.zeros(2, 2)}, steps=3)
    with pytest.raises(ValueError, match="same positive number"):
        L.line(model, X, y[:5], steps=3)
    with pytest.raises(ValueError, match="alphas"):
        L.interpolate(model, _mlp(1), X, y, alphas=[[0.0]])
    with pytest.raises(ValueError, match="differ"):
        L.direction_between(model, _mlp(0, widths=(3, 6, 4)))
    with pytest.raises(ValueError, match="chunk_size"):
        L.plane(model, X, y, steps=3, chunk_size=0)


# ----------------------------------------------------------------------------- helpers

def test_weight_values_are_the_entries_of_the_weight_matrices():
    model = _mlp()
    values = L.weight_values(model)
    expected = torch.cat([p.detach().flatten() for p in model.parameters() if p.dim() > 1])
    np.testing.assert_array_equal(values, expected.numpy())
    with pytest.raises(ValueError, match="more than one dimension"):
        L.weight_values(nn.PReLU())


def test_analysis_runs_where_the_model_is_and_leaves_it_there(monkeypatch):
    model = _mlp()
    X, y = _classification()
    before, expected = copy.deepcopy(model), evaluate(model, (X, y))["loss"]
    # were the default device consulted, it would raise: LECTURELIB_DEVICE names a missing GPU
    monkeypatch.setenv("LECTURELIB_DEVICE", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = L.line(model, X, y, steps=3)
    assert result.loss.shape == (3,) and result.at_origin() == pytest.approx(expected, rel=1e-10)
    for p, q in zip(model.parameters(), before.parameters()):
        assert torch.equal(p, q) and p.device == q.device


# ----------------------------------------------------------------------------- bad input gets a clear error

@pytest.mark.parametrize("entry", ["line", "plane", "interpolate", "evaluate_affine"])
@pytest.mark.parametrize("bad", [4, -1])
def test_labels_out_of_range_are_named_by_every_entry_point(entry, bad):
    model = _mlp()  # 4 outputs
    X, y = _classification()
    y = y.clone()
    y[0] = bad
    calls = {"line": lambda: L.line(model, X, y, steps=3, device="cpu"),
             "plane": lambda: L.plane(model, X, y, steps=3, device="cpu"),
             "interpolate": lambda: L.interpolate(model, _mlp(1), X, y, alphas=[0.0, 1.0], device="cpu"),
             "evaluate_affine": lambda: evaluate_affine(model, X, y, [L.random_direction(model)],
                                                        torch.zeros(2, 1), device="cpu")}
    with pytest.raises(ValueError, match=r"y holds labels in .*4 outputs.*\[0, 3\]"):
        calls[entry]()


def test_nan_inputs_and_mismatched_regression_targets_are_refused():
    model = _mlp(widths=(3, 6, 1))
    X = torch.randn(10, 3)
    with pytest.raises(ValueError, match="X holds 30 NaN"):
        L.line(model, torch.full_like(X, float("nan")), torch.zeros(10, 1), steps=3, device="cpu")
    with pytest.raises(ValueError, match=r"y has shape \(10,\).*y\.reshape\(-1, 1\)"):
        L.line(model, X, torch.zeros(10), steps=3, device="cpu")


@pytest.mark.parametrize("call, error, name", [
    (lambda m, X, y: L.line(m, X, y, steps=3, span=(-float("inf"), 1.0)), ValueError, "span"),
    (lambda m, X, y: L.line(m, X, y, steps=3, span=(0.0, float("nan"))), ValueError, "span"),
    (lambda m, X, y: L.line(m, X, y, steps=3.0), TypeError, "steps"),
    (lambda m, X, y: L.plane(m, X, y, steps=3, batch_size=2.5), TypeError, "batch_size"),
    (lambda m, X, y: L.line(m, X, y, steps=3, device="cuda:x"), ValueError, "device"),
    (lambda m, X, y: L.random_direction(m, generator=-1), ValueError, "generator"),
])
def test_numbers_are_checked_nan_safely(call, error, name):
    X, y = _classification()
    with pytest.raises(error, match=name):
        call(_mlp(), X, y)


def test_missing_cuda_is_named_like_get_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    X, y = _classification()
    with pytest.raises(RuntimeError, match="device='cuda' but torch sees no CUDA"):
        L.line(_mlp(), X, y, steps=3, device="cuda")
