"""lecturelib.backprop against torch.autograd (float64) and central finite differences."""

import pytest
import torch
import torch.nn.functional as F

from lecturelib import backprop, models

ELEMENTWISE = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu"]
LOSS_FUNCTIONS = {"mse": F.mse_loss, "cross_entropy": F.cross_entropy}


def make_case(widths, activation, residual, loss, batch=9, seed=0):
    torch.manual_seed(seed)
    # residual=True needs a square hidden layer; widths without one are tested as plain networks
    model = models.MLP(widths, activation=activation, residual=residual and any(models.square_hidden_layers(widths)))
    model = model.double()
    with torch.no_grad():  # non-zero biases, so that bias gradients are exercised
        for layer in model.layers:
            layer.bias.normal_(0.0, 0.3)
    X = torch.randn(batch, widths[0], dtype=torch.float64)
    if loss == "mse":
        y = torch.randn(batch, widths[-1], dtype=torch.float64)
    else:
        y = torch.randint(0, widths[-1], (batch,))
    return model, X, y


def autograd_gradients(model, X, y, loss):
    model.zero_grad()
    LOSS_FUNCTIONS[loss](model(X), y).backward()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


def relative_error(a, b):
    return ((a - b).norm() / b.norm().clamp_min(1e-300)).item()


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("activation", ELEMENTWISE)
@pytest.mark.parametrize("widths", [[3, 2], [4, 7, 3], [5, 6, 6, 6, 6, 3], [2, 4, 4, 8, 8, 8, 1, 2]])
def test_gradients_equal_autograd(widths, activation, residual, loss):
    model, X, y = make_case(widths, activation, residual, loss)
    ours = backprop.gradients(model, X, y, loss)
    reference = autograd_gradients(model, X, y, loss)
    assert list(ours) == list(reference)
    for name in reference:
        assert ours[name].shape == reference[name].shape, name
        assert relative_error(ours[name], reference[name]) < 1e-10, (name, activation, residual, loss)


def test_residual_mask_is_used():
    model, X, y = make_case([3, 5, 5, 5, 2], "tanh", True, "mse")
    assert model.residual_mask == [False, True, True]
    plain = models.MLP([3, 5, 5, 5, 2], activation="tanh").double()
    plain.load_state_dict(model.state_dict())
    g_res = backprop.gradients(model, X, y)["layers.0.weight"]
    g_plain = backprop.gradients(plain, X, y)["layers.0.weight"]
    assert relative_error(g_res, g_plain) > 1e-3  # the skip connections change the gradient


def test_float32_model_is_close_to_autograd():
    torch.manual_seed(1)
    model = models.MLP([6, 10, 10, 4], activation="relu")
    X, y = torch.randn(16, 6), torch.randint(0, 4, (16,))
    ours = backprop.gradients(model, X, y, "cross_entropy")
    reference = autograd_gradients(model, X, y, "cross_entropy")
    for name in reference:
        assert relative_error(ours[name], reference[name]) < 1e-5


def test_model_without_bias():
    torch.manual_seed(2)
    model = models.MLP([3, 4, 4, 2], activation="tanh", residual=True, bias=False).double()
    X, y = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    ours = backprop.gradients(model, X, y)
    reference = autograd_gradients(model, X, y, "mse")
    assert list(ours) == ["layers.0.weight", "layers.1.weight", "layers.2.weight"]
    for name in reference:
        assert relative_error(ours[name], reference[name]) < 1e-10


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("residual", [False, True])
def test_per_sample_form_averages_to_batched_form(residual, loss):
    model, X, y = make_case([3, 5, 5, 5, 3], "elu", residual, loss, batch=6)
    network = models.network_from_mlp(model)
    samples = [backprop.backprop_sample(network, X[i], y[i], loss) for i in range(len(X))]
    batched = backprop.gradients(model, X, y, loss)
    for k in range(network.depth):
        mean_w = sum(s["weight_grads"][k] for s in samples) / len(X)
        mean_b = sum(s["bias_grads"][k] for s in samples) / len(X)
        assert relative_error(mean_w, batched[f"layers.{k}.weight"]) < 1e-12
        assert relative_error(mean_b, batched[f"layers.{k}.bias"]) < 1e-12
    reference_loss = LOSS_FUNCTIONS[loss](model(X), y).item()
    assert abs(sum(float(s["loss"]) for s in samples) / len(X) - reference_loss) < 1e-12


def test_per_sample_deltas_are_input_and_state_gradients():
    model, X, y = make_case([3, 4, 4, 4, 2], "sigmoid", True, "mse", batch=1)
    x = X[0].clone().requires_grad_(True)
    states = model.forward_with_states(x[None])
    for s in states["post"]:
        s.retain_grad()
    F.mse_loss(states["output"], y).backward()
    result = backprop.backprop_sample(model, X[0], y[0])
    assert relative_error(result["deltas"][0], x.grad) < 1e-12  # delta_1 = dL/dx
    for k, s in enumerate(states["post"]):
        assert relative_error(result["deltas"][k + 1], s.grad[0]) < 1e-12


def test_output_gradient_matches_autograd():
    torch.manual_seed(3)
    u = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randn(5, 3, dtype=torch.float64)
    value, delta = backprop.output_gradient(u.detach(), y, "mse")
    F.mse_loss(u, y).backward()
    assert abs(value.item() - F.mse_loss(u, y).item()) < 1e-14
    assert relative_error(delta, u.grad) < 1e-12
    labels = torch.tensor([0, 2, 1, 1, 0])
    u.grad = None
    value, delta = backprop.output_gradient(u.detach(), labels, "cross_entropy")
    F.cross_entropy(u, labels).backward()
    assert abs(value.item() - F.cross_entropy(u, labels).item()) < 1e-14
    assert relative_error(delta, u.grad) < 1e-12


@pytest.mark.parametrize("residual", [False, True])
def test_gradient_check_agrees_with_finite_differences(residual):
    model, X, y = make_case([2, 4, 4, 4, 2], "tanh", residual, "mse", batch=5)
    report = backprop.gradient_check(model, X, y)
    assert report.passed(1e-7), report
    assert set(report.relative_errors) == {name for name, _ in model.named_parameters()}


def test_gradient_check_detects_a_wrong_gradient():
    model, X, y = make_case([2, 4, 4, 3], "sigmoid", False, "cross_entropy", batch=5)
    grads = backprop.gradients(model, X, y, "cross_entropy")
    grads["layers.1.bias"] = grads["layers.1.bias"] * 1.01
    report = backprop.gradient_check(model, X, y, "cross_entropy", grads=grads, max_entries=3)
    assert report.relative_errors["layers.1.bias"] > 1e-3
    assert report.relative_errors["layers.0.weight"] < 1e-7
    assert not report.passed(1e-6)


def test_layer_gradient_norms_match_autograd():
    model, X, y = make_case([3, 6, 6, 6, 6, 2], "sigmoid", False, "mse", batch=8)
    norms = backprop.layer_gradient_norms(model, X, y)
    reference = autograd_gradients(model, X, y, "mse")
    expected = torch.stack([reference[f"layers.{k}.weight"].norm() for k in range(5)])
    assert torch.allclose(norms.weight_grad_norms, expected, rtol=1e-10, atol=0)
    # delta_1 of every sample's own loss: the input gradient of F.mse_loss(m(x_i), y_i)
    per_sample = []
    for i in range(len(X)):
        x = X[i:i + 1].clone().requires_grad_(True)
        F.mse_loss(model(x), y[i:i + 1]).backward()
        per_sample.append(x.grad.norm())
    assert abs(norms.delta_norms[0].item() - torch.stack(per_sample).mean().item()) < 1e-12
    assert norms.delta_norms.shape == (6,)


def test_sigmoid_delta_bound_holds():
    """Lecture: with ||W_j||_2 <= 1, ||delta_j|| <= 0.25 ||delta_{j+1}|| per sample."""
    net = models.random_network([8] * 12 + [2], "sigmoid", seed=4)
    weights = tuple(W / torch.linalg.matrix_norm(W, ord=2) for W in net.weights)
    net = models.Network(weights, net.biases, net.activations, net.residual)
    X, y = torch.randn(20, 8, dtype=torch.float64), torch.randn(20, 2, dtype=torch.float64)
    _, _, back = backprop.network_gradients(net, X, y)
    for k in range(net.depth - 1):  # hidden layers (the output layer has sigma' = 1)
        assert torch.all(back.deltas[k].norm(dim=1) <= 0.25 * back.deltas[k + 1].norm(dim=1) + 1e-15)


def test_stored_activation_bytes_and_autograd_saved_bytes_grow_linearly():
    X = torch.randn(32, 16)
    stored, saved = [], []
    for depth in (2, 4, 8):
        torch.manual_seed(0)
        model = models.MLP([16] + [64] * depth + [10], activation="tanh")
        stored.append(backprop.stored_activation_bytes(backprop.forward(model, X)))
        saved.append(backprop.autograd_saved_bytes(model, X, torch.randint(0, 10, (32,)), "cross_entropy"))
    # every hidden layer stores v_j and z_{j+1}: 2 * 32 * 64 * 4 bytes; plus the output v_n = z_{n+1}
    assert stored == [2 * 32 * 64 * 4 * d + 32 * 10 * 4 for d in (2, 4, 8)]
    # autograd keeps one (32, 64) float32 tensor per tanh layer: tanh's output, which is also the
    # next linear layer's input (tanh' = 1 - tanh^2 needs no v_j)
    assert [b - a for a, b in zip(saved, saved[1:])] == [32 * 64 * 4 * 2, 32 * 64 * 4 * 4]


@pytest.mark.parametrize("bad_model, message", [
    (models.MLP([2, 3, 1], norm="batch"), "norm"),
    (models.MLP([2, 3, 1], dropout=0.5), "dropout"),
    (models.MLP([2, 3, 1], activation="maxout"), "maxout"),
    (models.MLP([2, 3, 1], activation="prelu"), "prelu"),
])
def test_unsupported_models_are_rejected(bad_model, message):
    with pytest.raises(ValueError, match=message):
        backprop.gradients(bad_model, torch.randn(4, 2), torch.randn(4, 1))


def test_bad_inputs_give_clear_errors():
    model = models.MLP([3, 4, 2], activation="relu").double()
    X = torch.randn(5, 3, dtype=torch.float64)
    with pytest.raises(TypeError, match="MLP"):
        backprop.gradients(torch.nn.Linear(3, 2), X, torch.randn(5, 2))
    with pytest.raises(ValueError, match=r"X must have shape \(batch, 3\)"):
        backprop.gradients(model, torch.randn(5, 4), torch.randn(5, 2))
    with pytest.raises(ValueError, match=r"target must have shape \(5, 2\)"):
        backprop.gradients(model, X, torch.randn(5, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="integer class labels"):
        backprop.gradients(model, X, torch.randn(5), "cross_entropy")
    with pytest.raises(ValueError, match="class labels must lie in"):
        backprop.gradients(model, X, torch.tensor([0, 1, 2, 0, 1]), "cross_entropy")
    with pytest.raises(TypeError, match="floating-point targets"):
        backprop.gradients(model, X, torch.zeros(5, 2, dtype=torch.long), "mse")
    with pytest.raises(ValueError, match="loss must be one of"):
        backprop.gradients(model, X, torch.randn(5, 2), "hinge")
    with pytest.raises(ValueError, match=r"x must be one sample of shape \(3,\)"):
        backprop.backprop_sample(model, X, torch.randn(2))
    with pytest.raises(ValueError, match="delta_out must have the output's shape"):
        backprop.backward(model, backprop.forward(model, X), torch.randn(5, 3))
    with pytest.raises(ValueError, match="eps"):
        backprop.gradient_check(model, X, torch.randn(5, 2, dtype=torch.float64), eps=2.0)


# ------------------------------------------------------------------ bad input gets a clear error

@pytest.mark.parametrize("call, name", [
    (lambda: backprop.gradient_check(models.MLP([3, 2]).double(), torch.randn(4, 3, dtype=torch.float64),
                                     torch.randn(4, 2, dtype=torch.float64), eps=float("nan")), "eps"),
])
def test_nan_and_infinite_numbers_are_refused(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize("call, name", [
    (lambda: backprop.gradient_check(models.MLP([3, 2]).double(), torch.randn(4, 3, dtype=torch.float64),
                                     torch.randn(4, 2, dtype=torch.float64), max_entries=2.0), "max_entries"),
    (lambda: backprop.forward(models.MLP([3, 2]), [[1.0, 2.0, 3.0]]), "X"),
])
def test_wrong_kinds_are_type_errors(call, name):
    with pytest.raises(TypeError, match=name):
        call()


def test_negative_labels_name_the_range():
    model = models.MLP([3, 2]).double()
    X = torch.randn(3, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"target holds labels in \[-1, 1\].*2 outputs.*\[0, 1\]"):
        backprop.gradients(model, X, torch.tensor([0, -1, 1]), "cross_entropy")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_backprop_runs_where_the_model_is(loss):
    """The device rule: inputs on the CPU go to a model on the GPU; the gradients stay there."""
    model, X, y = make_case([3, 5, 5, 2], "tanh", True, loss)
    reference = backprop.gradients(model, X, y, loss)
    model.cuda()
    ours = backprop.gradients(model, X, y, loss)
    for name in reference:
        assert ours[name].device.type == "cuda"
        assert relative_error(ours[name].cpu(), reference[name]) < 1e-12
    assert backprop.gradient_check(model, X, y, loss, max_entries=3).passed(1e-7)
    assert backprop.backprop_sample(model, X[0], y[0], loss)["loss"].device.type == "cuda"
    assert backprop.autograd_saved_bytes(model, X, y, loss) > 0
