"""lecturelib.ensemble against trusted references: each MLP's own forward pass, torch.autograd,
torch.func.vmap, and every model trained separately by torch.optim through lecturelib.train.fit."""

import pytest
import torch
import torch.nn.functional as F

from lecturelib import data, models, train
from lecturelib.ensemble import (EnsembleHistory, MLPEnsemble, embed_residual, final_loss_summary, train_ensemble,
                                 vmap_forward)

TIGHT = 1e-10  # float64 relative tolerance for quantities computed in a different order


def _inputs(n=7, n_in=1, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, n_in, generator=generator, dtype=torch.float64)
    y = torch.randn(n, 1, generator=generator, dtype=torch.float64)
    return X, y


def _mlps(hidden, residual, activation="leaky_relu", n_in=1, width=5, tail=(1, 1), seed=0):
    torch.manual_seed(seed)
    widths = [[n_in] + [width] * k + list(tail) for k in hidden]
    # residual=True needs a square hidden layer; a model without one is plain, as the ensemble treats it
    return [models.MLP(w, activation=activation, residual=r and any(models.square_hidden_layers(w))).double()
            for w, r in zip(widths, residual)]


def _autograd_gradient(ensemble, mlps, X, y):
    """Each MLP's autograd gradient of F.mse_loss, scattered into the ensemble's (M, P) layout."""
    expected = torch.zeros_like(ensemble.theta)
    views = ensemble._views(expected)
    for index, mlp in enumerate(mlps):
        mlp.zero_grad()
        F.mse_loss(mlp(X), y).backward()
        for linear, padded in zip(mlp.layers, ensemble._layer_map(index)):
            views[padded][0][index].copy_(linear.weight.grad.T)
            views[padded][1][index, 0].copy_(linear.bias.grad)
    return expected


def _relative(a, b):
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def test_lecture_parameter_counts():
    ensemble = MLPEnsemble.from_seeds(1, 5, [1, 1], [3, 5, 10, 15, 45], False, 0)
    assert ensemble.n_parameters() == [78, 138, 288, 438, 1338]
    for index, mlp in enumerate(ensemble.to_mlp(i) for i in range(5)):
        assert models.count_parameters(mlp) == ensemble.n_parameters()[index]


@pytest.mark.parametrize("activation", ["leaky_relu", "tanh", "relu", "elu"])
def test_forward_matches_each_mlp(activation):
    hidden, residual = [1, 2, 4, 4, 2], [False, True, False, True, True]
    mlps = _mlps(hidden, residual, activation)
    ensemble = MLPEnsemble.from_mlps(mlps)
    X, _ = _inputs()
    out = ensemble.forward(X)  # (M, N, 1)
    assert out.shape == (5, 7, 1)
    for index, mlp in enumerate(mlps):
        torch.testing.assert_close(out[index], mlp(X), rtol=1e-12, atol=1e-12)


def test_forward_with_residual_first_and_tail_layers():
    # n_in == width makes the first layer residual; tail [3, 3, 2] has a residual 3 -> 3 layer.
    mlps = _mlps([2, 3], [True, True], "tanh", n_in=4, width=4, tail=(3, 3, 2))
    assert mlps[0].residual_mask[0] and mlps[0].residual_mask[-1]
    ensemble = MLPEnsemble.from_mlps(mlps)
    X, _ = _inputs(n_in=4)
    for index, mlp in enumerate(mlps):
        torch.testing.assert_close(ensemble.forward(X)[index], mlp(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", ["leaky_relu", "tanh", "sigmoid"])
def test_gradient_matches_autograd(activation):
    hidden, residual = [1, 3, 6, 6], [True, False, False, True]
    mlps = _mlps(hidden, residual, activation, seed=3)
    ensemble = MLPEnsemble.from_mlps(mlps)
    X, y = _inputs(seed=1)
    losses, gradient = ensemble.loss_and_gradient(X, y)
    expected = _autograd_gradient(ensemble, mlps, X, y)
    assert _relative(gradient, expected) < TIGHT
    torch.testing.assert_close(losses, torch.stack([F.mse_loss(m(X), y) for m in mlps]).detach(),
                               rtol=1e-12, atol=0)
    # Padding blocks of the shallow models get exactly zero gradient.
    weight, bias = ensemble._views(gradient)[3]  # the third repeated block: used by k >= 4 only
    assert weight[:2].abs().max() == 0 and bias[:2].abs().max() == 0
    assert weight[2:].abs().max() > 0


def test_vmap_forward_matches_each_mlp_and_the_ensemble():
    mlps = _mlps([3, 3, 3], [True, True, True], seed=5)
    X, _ = _inputs()
    batched = vmap_forward(mlps, X)
    for index, mlp in enumerate(mlps):
        torch.testing.assert_close(batched[index], mlp(X), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(MLPEnsemble.from_mlps(mlps).forward(X), batched, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("optimizer, kwargs", [
    ("adam", {}),
    ("adam", {"weight_decay": 1e-2}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"weight_decay": 1e-3}),
])
def test_training_equals_torch_optim_per_model(optimizer, kwargs):
    split = data.regression_1d(n_train=12, n_test=9, seed=2)
    split = data.DataSplit(split.X_train.double(), split.y_train.double(), split.X_test.double(),
                           split.y_test.double(), split.description)
    hidden, residual, rates = [1, 3, 5], [False, True, False], [0.01, 0.005, 0.03]
    if optimizer == "sgd":
        rates = [0.05, 0.02, 0.05]
    mlps = _mlps(hidden, residual, seed=7)
    ensemble = MLPEnsemble.from_mlps(mlps)
    history = train_ensemble(ensemble, split, optimizer, lr=rates, epochs=15, test_every=10, **kwargs)
    assert history.test_epochs == [0, 10, 15]
    for index, mlp in enumerate(mlps):
        reference = train.fit(mlp, split, optimizer=optimizer, lr=rates[index], epochs=15, device="cpu",
                              progress=False, **kwargs)
        trained = ensemble.to_mlp(index)
        for mine, theirs in zip(trained.parameters(), mlp.parameters()):
            assert _relative(mine, theirs) < 1e-9
        torch.testing.assert_close(history.train_loss[:, index], torch.tensor(reference.train_loss, dtype=torch.float64),
                                   rtol=1e-9, atol=1e-14)
        torch.testing.assert_close(history.test_loss[:, index],
                                   torch.tensor([reference.test_loss[e] for e in history.test_epochs],
                                                dtype=torch.float64), rtol=1e-9, atol=1e-14)
    # Padding stays exactly zero: the 1-hidden-layer model uses none of the 4 blocks.
    assert all(weight[0].abs().max() == 0 and bias[0].abs().max() == 0 for weight, bias in ensemble.layers[1:5])


def test_round_trip_and_parameter_norms():
    mlps = _mlps([2, 4], [False, True], seed=1)
    ensemble = MLPEnsemble.from_mlps(mlps)
    X, _ = _inputs()
    for index, mlp in enumerate(mlps):
        back = ensemble.to_mlp(index)
        assert back.widths == mlp.widths and back.residual == mlp.residual
        torch.testing.assert_close(back(X), mlp(X), rtol=0, atol=0)
        norm = torch.cat([p.detach().flatten() for p in mlp.parameters()]).norm()
        torch.testing.assert_close(ensemble.parameter_norms()[index], norm, rtol=1e-14, atol=0)


def test_float32_default_and_from_seeds_reproduces_mlp_initialisation():
    ensemble = MLPEnsemble.from_seeds(1, 5, [1, 1], [3, 4], [False, True], [11, 12])
    assert ensemble.theta.dtype == torch.float32
    torch.manual_seed(12)
    reference = models.MLP([1, 5, 5, 5, 5, 1, 1], activation="leaky_relu", residual=True)
    for mine, theirs in zip(ensemble.to_mlp(1).parameters(), reference.parameters()):
        assert torch.equal(mine, theirs)


def test_embed_residual_is_exact_and_checks_its_arguments():
    shallow = _mlps([3], [True], seed=4)[0]
    deep = embed_residual(shallow, 12)
    X, _ = _inputs(n=50)
    assert deep.widths == [1] + [5] * 12 + [1, 1] and deep.residual
    assert torch.equal(deep(X), shallow(X))
    assert sum(float(p.detach().abs().sum()) for layer in deep.layers[3:12] for p in layer.parameters()) == 0
    with pytest.raises(TypeError, match="residual"):
        embed_residual(_mlps([3], [False])[0], 12)
    with pytest.raises(ValueError, match="hidden must be an int >= the 3"):
        embed_residual(shallow, 2)
    with pytest.raises(ValueError, match="sigma"):
        embed_residual(_mlps([2], [True], "sigmoid")[0], 4)


def test_scale_blocks_and_first_layer_gradient():
    mlps = _mlps([3, 4], [True, False], seed=2)
    ensemble = MLPEnsemble.from_mlps(mlps)
    before = ensemble.theta.clone()
    ensemble.scale_blocks([0.5, 2.0])
    for index, factor in enumerate([0.5, 2.0]):
        scaled = ensemble.to_mlp(index)
        for j, (mine, original) in enumerate(zip(scaled.layers, mlps[index].layers)):
            expected = factor if 1 <= j < mlps[index].widths.count(5) else 1.0
            torch.testing.assert_close(mine.weight, expected * original.weight, rtol=1e-15, atol=0)
    ensemble.theta.copy_(before)
    X, y = _inputs()
    norms = ensemble.first_layer_gradient_norm(X, y)
    for index, mlp in enumerate(mlps):
        mlp.zero_grad()
        F.mse_loss(mlp(X), y).backward()
        torch.testing.assert_close(norms[index], mlp.layers[0].weight.grad.norm(), rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="factors"):
        ensemble.scale_blocks([1.0])


def test_final_loss_summary_groups_by_label_and_depth():
    ensemble = MLPEnsemble.from_seeds(1, 5, [1, 1], [2, 2, 2, 3], [True, True, True, True], [0, 1, 2, 3])
    losses = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.3, 0.1, 0.2, 0.4]])
    history = EnsembleHistory(losses, [0, 1], losses)
    rows = final_loss_summary(ensemble, history, ["a", "a", "b", "a"])
    assert [(r["label"], r["hidden"], r["models"]) for r in rows] == [("a", 2, [0, 1]), ("b", 2, [2]), ("a", 3, [3])]
    assert rows[0]["median"] == pytest.approx(0.2) and rows[0]["min"] == pytest.approx(0.1)
    assert rows[0]["depth"] == 4 and rows[0]["parameters"] == 48
    with pytest.raises(ValueError, match="labels"):
        final_loss_summary(ensemble, history, ["a"])


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="hidden"):
        MLPEnsemble(1, 5, [1], [])
    with pytest.raises(ValueError, match="width"):
        MLPEnsemble(1, 0, [1], [2])
    with pytest.raises(ValueError, match="tail"):
        MLPEnsemble(1, 5, [], [2])
    with pytest.raises(ValueError, match="activation"):
        MLPEnsemble(1, 5, [1], [2], activation="maxout")
    with pytest.raises(ValueError, match="residual"):
        MLPEnsemble(1, 5, [1], [2, 3], residual=[True])
    with pytest.raises(TypeError, match="dtype"):
        MLPEnsemble(1, 5, [1], [2], dtype=torch.int64)
    with pytest.raises(TypeError, match="mlps"):
        MLPEnsemble.from_mlps([torch.nn.Linear(1, 1)])
    with pytest.raises(ValueError, match="share"):
        MLPEnsemble.from_mlps([models.MLP([1, 5, 1, 1]), models.MLP([1, 5, 2, 1])])
    ensemble = MLPEnsemble.from_seeds(1, 5, [1, 1], [2, 3], False, 0)
    with pytest.raises(ValueError, match=r"X must have shape \(N, 1\)"):
        ensemble.forward(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="y must be a tensor of shape"):
        ensemble.loss_and_gradient(torch.zeros(4, 1), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="model must be an index"):
        ensemble.to_mlp(2)
    with pytest.raises(ValueError, match="widths"):
        ensemble.load_mlp(0, models.MLP([1, 5, 5, 5, 1, 1], activation="leaky_relu"))
    split = data.regression_1d(n_train=5, n_test=5)
    with pytest.raises(ValueError, match="lr"):
        train_ensemble(ensemble, split, lr=[0.1])
    with pytest.raises(ValueError, match="lr"):
        train_ensemble(ensemble, split, lr=-1.0)
    with pytest.raises(ValueError, match="optimizer"):
        train_ensemble(ensemble, split, optimizer="lbfgs")
    with pytest.raises(ValueError, match="epochs"):
        train_ensemble(ensemble, split, epochs=-1)
    with pytest.raises(TypeError, match="data"):
        train_ensemble(ensemble, (split.X_train, split.y_train))
    with pytest.raises(ValueError, match="one architecture"):
        vmap_forward([models.MLP([1, 5, 1]), models.MLP([1, 4, 1])], torch.zeros(2, 1))


@pytest.mark.parametrize("name, value", [("eps", -1.0), ("eps", float("nan")), ("momentum", float("nan")),
                                         ("weight_decay", float("nan")), ("weight_decay", float("inf")),
                                         ("lr", [0.1, float("nan")]), ("lr", float("inf")),
                                         ("betas", (0.9, float("nan"))), ("betas", (1.0, 0.999))])
def test_train_ensemble_refuses_non_finite_hyperparameters(name, value):
    ensemble = MLPEnsemble.from_seeds(1, 5, [1, 1], [2, 3], False, 0)
    with pytest.raises(ValueError, match=name):
        train_ensemble(ensemble, data.regression_1d(n_train=5, n_test=5), epochs=1, **{name: value})


def test_train_ensemble_refuses_wrong_kinds_and_targets():
    ensemble = MLPEnsemble.from_seeds(1, 5, [1, 1], [2, 3], False, 0)
    split = data.regression_1d(n_train=5, n_test=5)
    with pytest.raises(TypeError, match="momentum"):
        train_ensemble(ensemble, split, epochs=1, momentum="0.9")
    with pytest.raises(TypeError, match="test_every"):
        train_ensemble(ensemble, split, epochs=1, test_every=2.0)
    with pytest.raises(TypeError, match="seeds"):
        MLPEnsemble.from_seeds(1, 5, [1, 1], [2, 3], False, ["a", 1])
    with pytest.raises(ValueError, match="X_train.*NaN"):
        nan = data.DataSplit(torch.full_like(split.X_train, float("nan")), split.y_train, split.X_test, split.y_test)
        train_ensemble(ensemble, nan, epochs=1)


def test_residual_flag_of_a_model_without_square_layers_is_harmless():
    ensemble = MLPEnsemble.from_seeds(1, 5, [1, 1], [1, 2], True, 0)  # hidden=1: no 5 -> 5 layer
    assert ensemble.to_mlp(0).residual_mask == [False, False] and ensemble.to_mlp(1).residual_mask[1]
    X = _inputs()[0].float()
    torch.testing.assert_close(ensemble.forward(X)[0], ensemble.to_mlp(0)(X), rtol=0, atol=0)
