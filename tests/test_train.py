import pytest
import torch
import torch.nn.functional as F

from lecturelib import data, models, train


def _net(seed=0, widths=(1, 8, 1), activation="tanh"):
    torch.manual_seed(seed)
    return models.MLP(list(widths), activation=activation)


def test_full_batch_sgd_equals_plain_gradient_descent_with_torch_optim():
    split = data.regression_1d(n_train=20)
    ours, reference = _net(), _net()
    history = train.fit(ours, split, optimizer="sgd", lr=0.1, epochs=25, device="cpu")
    opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    for _ in range(25):
        opt.zero_grad()
        F.mse_loss(reference(split.X_train), split.y_train).backward()
        opt.step()
    for a, b in zip(ours.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert history.steps == 25 and history.epoch == list(range(26))
    with torch.no_grad():
        final_loss = float(F.mse_loss(reference(split.X_train), split.y_train))
    assert history.train_loss[-1] == pytest.approx(final_loss, rel=1e-6)


def test_minibatch_runs_repeat_exactly_for_a_seed():
    split = data.digits().subset(n_train=300, n_test=100)
    runs = []
    for seed in (0, 0, 1):
        net = _net(widths=(64, 16, 10), activation="relu")
        train.fit(net, split, optimizer="adam", lr=1e-2, epochs=3, batch_size=32, seed=seed, device="cpu")
        runs.append(torch.cat([p.detach().ravel() for p in net.parameters()]))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_history_for_classification_and_callbacks():
    split = data.toy_2d("moons")
    net = _net(widths=(2, 16, 2), activation="relu")
    history = train.fit(net, split, lr=0.5, epochs=30, eval_every=10, device="cpu",
                        callback=lambda model, epoch: {"weight_norm": float(model.layers[0].weight.detach().norm())})
    assert history.epoch == [0, 10, 20, 30]
    assert len(history.train_accuracy) == 4 and history.train_accuracy[-1] > 0.8
    assert len(history.extras["weight_norm"]) == 4
    final = history.final()
    assert set(final) == {"epoch", "train_loss", "test_loss", "train_accuracy", "test_accuracy"}
    assert train.History.from_dict(history.to_dict()) == history


def test_regression_history_has_no_accuracy():
    history = train.fit(_net(), data.regression_1d(), epochs=2, device="cpu")
    assert history.train_accuracy == [] and "train_accuracy" not in history.final()


def test_evaluate_matches_a_direct_computation():
    split = data.digits()
    net = _net(widths=(64, 10), activation="identity")
    result = train.evaluate(net, split, split="train", batch_size=100)
    with torch.no_grad():
        out = net(split.X_train)
    assert result["loss"] == pytest.approx(float(F.cross_entropy(out, split.y_train)), rel=1e-5)
    assert result["accuracy"] == pytest.approx(float((out.argmax(1) == split.y_train).float().mean()))
    assert train.evaluate(net, (split.X_test, split.y_test)) == train.evaluate(net, split)


def test_evaluate_uses_eval_mode_and_restores_training_mode():
    net = models.MLP([4, 8, 2], dropout=0.5)
    net.train()
    X, y = torch.randn(50, 4), torch.randint(0, 2, (50,))
    first, second = train.evaluate(net, (X, y)), train.evaluate(net, (X, y))
    assert first == second and net.training


def test_optimizers_by_name_and_callable():
    net = _net()
    assert isinstance(train.make_optimizer("adam", net.parameters(), 1e-3), torch.optim.Adam)
    opt = train.make_optimizer(lambda p: torch.optim.SGD(p, lr=0.3), net.parameters(), lr=1.0)
    assert opt.param_groups[0]["lr"] == 0.3


def test_bad_arguments_are_named():
    split = data.regression_1d()
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        train.fit("net", split)
    with pytest.raises(TypeError, match="data must be a lecturelib.data.DataSplit"):
        train.fit(_net(), (split.X_train, split.y_train))
    with pytest.raises(ValueError, match="epochs"):
        train.fit(_net(), split, epochs=-1)
    with pytest.raises(ValueError, match="batch_size"):
        train.fit(_net(), split, batch_size=0)
    with pytest.raises(ValueError, match="unknown optimizer 'sgdx'"):
        train.fit(_net(), split, optimizer="sgdx")
    with pytest.raises(ValueError, match="lr"):
        train.fit(_net(), split, lr=0)
    with pytest.raises(ValueError, match="momentum"):
        train.make_optimizer("adam", _net().parameters(), 0.1, momentum=0.9)
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        train.evaluate(_net(), split, split="val")
    with pytest.raises(TypeError, match="callback"):
        train.fit(_net(), split, callback=3)
