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


# ------------------------------------------------------------------ bad input gets a clear error

@pytest.mark.parametrize("name, value", [("lr", float("nan")), ("lr", float("inf")), ("weight_decay", float("nan")),
                                         ("momentum", float("nan")), ("weight_decay", -1.0), ("momentum", float("inf"))])
def test_fit_refuses_non_finite_hyperparameters(name, value):
    with pytest.raises(ValueError, match=name):
        train.fit(_net(), data.regression_1d(), epochs=1, device="cpu", **{name: value})


def test_fit_and_evaluate_refuse_regression_targets_of_the_wrong_shape():
    split = data.regression_1d(n_train=20, n_test=10)
    flat = data.DataSplit(split.X_train, split.y_train[:, 0], split.X_test, split.y_test[:, 0])
    net = _net()
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ValueError, match=r"y_train.*\(20,\).*\(20, 1\).*reshape\(-1, 1\)"):
        train.fit(net, flat, epochs=2, device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))  # refused before training
    with pytest.raises(ValueError, match=r"y_test.*reshape\(-1, 1\)"):
        train.evaluate(net, flat)
    with pytest.raises(ValueError, match=r"y.*reshape"):
        train.evaluate(net, (flat.X_train, flat.y_train))


def test_fit_refuses_an_optimizer_built_on_another_model():
    net, other = _net(0), _net(1)
    with pytest.raises(ValueError, match="optimizer.*model"):
        train.fit(net, data.regression_1d(), optimizer=torch.optim.SGD(other.parameters(), lr=0.1), epochs=1,
                  device="cpu")
    partial = torch.optim.SGD([net.layers[0].weight], lr=0.1)  # misses three trainable tensors
    with pytest.raises(ValueError, match="optimizer"):
        train.fit(net, data.regression_1d(), optimizer=partial, epochs=1, device="cpu")
    history = train.fit(net, data.regression_1d(), optimizer=torch.optim.SGD(net.parameters(), lr=0.1), epochs=1,
                        device="cpu")
    assert history.steps == 1


def test_evaluate_and_fit_refuse_empty_data():
    split = data.toy_2d("moons", n_samples=40)
    empty_test = data.DataSplit(split.X_train, split.y_train, split.X_test[:0], split.y_test[:0])
    net = _net(widths=(2, 8, 2), activation="relu")
    with pytest.raises(ValueError, match="X_test.*empty"):
        train.evaluate(net, empty_test)
    with pytest.raises(ValueError, match="X.*empty"):
        train.evaluate(net, (split.X_train[:0], split.y_train[:0]))
    with pytest.raises(ValueError, match="X_test.*empty"):
        train.fit(net, empty_test, epochs=1, device="cpu")


def test_fit_and_evaluate_refuse_non_finite_inputs():
    split = data.toy_2d("moons", n_samples=40)
    nan_split = data.DataSplit(torch.full_like(split.X_train, float("nan")), split.y_train,
                               split.X_test, split.y_test)
    net = _net(widths=(2, 8, 2), activation="relu")
    with pytest.raises(ValueError, match="X_train.*NaN"):
        train.evaluate(net, nan_split, split="train")  # argmax of NaN used to give accuracy 1.0
    with pytest.raises(ValueError, match="X_train.*NaN"):
        train.fit(net, nan_split, epochs=1, device="cpu")


@pytest.mark.parametrize("bad", [10, -1])
def test_fit_refuses_labels_out_of_range(bad):
    split = data.digits().subset(n_train=50, n_test=20)
    y = split.y_train.clone()
    y[3] = bad
    bad_split = data.DataSplit(split.X_train, y, split.X_test, split.y_test)
    net = _net(widths=(64, 10), activation="identity")
    with pytest.raises(ValueError, match=r"y_train.*10 outputs.*\[0, 9\]"):
        train.fit(net, bad_split, epochs=1, device="cpu")
    with pytest.raises(ValueError, match="y_train"):
        train.evaluate(net, bad_split, split="train")


def test_fit_refuses_float64_data_for_a_float32_model():
    split = data.regression_1d(n_train=20)
    double = data.DataSplit(split.X_train.double(), split.y_train.double(), split.X_test.double(),
                            split.y_test.double())
    with pytest.raises(TypeError, match=r"X_train.*float64.*float32.*\.float\(\).*double\(\)"):
        train.fit(_net(), double, epochs=1, device="cpu")
    with pytest.raises(TypeError, match="float64.*float32"):
        train.evaluate(_net(), double)
    assert train.fit(_net().double(), double, epochs=1, device="cpu").steps == 1


def test_fit_on_missing_cuda_says_so(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="device='cuda'.*no CUDA"):
        train.fit(_net(), data.regression_1d(), epochs=1, device="cuda")
    with pytest.raises(ValueError, match="device"):
        train.fit(_net(), data.regression_1d(), epochs=1, device="gpu")


def test_fit_seed_must_be_an_int():
    with pytest.raises(TypeError, match="seed"):
        train.fit(_net(), data.regression_1d(), epochs=1, seed="x", device="cpu")
    with pytest.raises(ValueError, match="seed"):
        train.fit(_net(), data.regression_1d(), epochs=1, seed=-1, device="cpu")


def test_evaluate_a_model_without_parameters_is_a_clear_error():
    with pytest.raises(ValueError, match="model.*ReLU.*no parameters"):
        train.evaluate(torch.nn.ReLU(), data.regression_1d())


def test_a_callback_must_return_a_dict_or_none():
    def norm_of_weights(model, epoch):
        return 3.0

    with pytest.raises(TypeError, match="callback norm_of_weights returned float.*dict"):
        train.fit(_net(), data.regression_1d(), epochs=1, device="cpu", callback=norm_of_weights)


# ------------------------------------------------------------------------- mutation-guided tests

def test_foreign_optimizer_message_counts_the_foreign_and_missing_tensors():
    # catches wrong counts (or a wrong class name) in the message about an optimizer built elsewhere
    net, other = _net(0), _net(1)
    mixed = torch.optim.Adam([net.layers[0].weight, *other.parameters()], lr=0.1)  # 4 foreign, lacks 3 of 4
    with pytest.raises(ValueError, match=r"^optimizer \(Adam\) must be built on this model's parameters: it holds "
                                         r"4 tensors that are not the model's and lacks 3 of its trainable ones; "
                                         r"build it with model.parameters\(\) or pass a name such as 'sgd'$"):
        train.fit(net, data.regression_1d(), optimizer=mixed, epochs=1, device="cpu")
    partial = torch.optim.SGD([net.layers[0].weight], lr=0.1)
    with pytest.raises(ValueError, match=r"holds 0 tensors that are not the model's and lacks 3 of its trainable"):
        train.fit(net, data.regression_1d(), optimizer=partial, epochs=1, device="cpu")


def test_history_final_reports_the_last_entry_of_every_list():
    # catches an earlier entry (index +1, -2) or a lost accuracy in final()
    history = train.History(epoch=[0, 5, 10], train_loss=[3.0, 2.0, 1.0], test_loss=[3.5, 2.5, 1.5],
                            train_accuracy=[0.1, 0.5, 0.9], test_accuracy=[0.2, 0.4, 0.8])
    assert history.final() == {"epoch": 10, "train_loss": 1.0, "test_loss": 1.5,
                               "train_accuracy": 0.9, "test_accuracy": 0.8}
    regression = train.History(epoch=[0, 1], train_loss=[2.0, 1.0], test_loss=[2.5, 1.5])
    assert regression.final() == {"epoch": 1, "train_loss": 1.0, "test_loss": 1.5}


def test_evaluate_names_its_arguments_and_returns_exactly_the_promised_keys():
    # catches unnamed or mistyped argument errors in evaluate, a lost batch_size bound, wrong result keys
    split = data.toy_2d("moons", n_samples=40)
    net = _net(widths=(2, 8, 2))
    with pytest.raises(TypeError, match=r"^model must be a torch.nn.Module, got str$"):
        train.evaluate("net", split)
    with pytest.raises(ValueError, match=r"^batch_size must be an int >= 1, got 0$"):
        train.evaluate(net, split, batch_size=0)
    with pytest.raises(TypeError, match=r"^loss_fn must be callable, got int \(3\)$"):
        train.evaluate(net, split, loss_fn=3)
    for bad, kind in (([split.X_test, split.y_test, split.X_test], "list"), ("ab", "str")):
        with pytest.raises(TypeError, match=rf"^data must be a DataSplit or a tuple \(X, y\), got {kind}$"):
            train.evaluate(net, bad)
    whole = train.evaluate(net, split)
    assert set(whole) == {"loss", "accuracy"}
    one_by_one = train.evaluate(net, split, batch_size=1)
    assert one_by_one["accuracy"] == whole["accuracy"] and abs(one_by_one["loss"] - whole["loss"]) < 1e-5
    regression = data.regression_1d(n_train=10, n_test=10)
    assert set(train.evaluate(_net(), regression)) == {"loss"}


def test_evaluate_on_a_tuple_names_x_and_y_and_trusts_a_custom_loss():
    # catches other names than X and y in messages, and the default-loss target check applied to a custom loss
    split = data.regression_1d(n_train=10, n_test=10)
    net = _net()
    X, y = split.X_test, split.y_test
    bad = X.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"^X holds 1 NaN or infinite entries"):
        train.evaluate(net, (bad, y))
    with pytest.raises(ValueError, match=r"^y must have one entry per row of X \(10\)"):
        train.evaluate(net, (X, y[:5]))
    flat = y.reshape(-1)  # (N,) targets: refused for the default loss, fine for a loss that reshapes them
    mse = train.evaluate(net, (X, flat), loss_fn=lambda out, t: ((out - t.reshape(-1, 1)) ** 2).mean())
    assert abs(mse["loss"] - train.evaluate(net, (X, y))["loss"]) < 1e-6


def _plain_sgd_steps(net, split, lr, batch_size, steps, seed, rate_factor=lambda step: 1.0):
    """The reference: torch.optim.SGD over the minibatch order fit promises (a fresh randperm per
    epoch from a CPU generator seeded with ``seed``), stopping after ``steps`` steps."""
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    n, taken = len(split.X_train), 0
    while taken < steps:
        order = torch.randperm(n, generator=generator)
        for begin in range(0, n, batch_size):
            idx = order[begin:begin + batch_size]
            for group in opt.param_groups:
                group["lr"] = lr * rate_factor(taken)
            opt.zero_grad()
            F.cross_entropy(net(split.X_train[idx]), split.y_train[idx]).backward()
            opt.step()
            taken += 1
            if taken == steps:
                return


def test_on_step_sees_step_zero_and_every_step_and_max_steps_stops_mid_epoch():
    split = data.digits().subset(n_train=100, n_test=50)
    ours, reference = _net(widths=(64, 8, 10)), _net(widths=(64, 8, 10))
    seen = []

    def watch(model, step):
        seen.append((step, model.training))
        model.eval()  # fit must put the model back in training mode
        return {"step": step} if step % 5 == 0 else None

    history = train.fit(ours, split, lr=0.1, epochs=10, batch_size=30, seed=3, on_step=watch, max_steps=11,
                        device="cpu")
    _plain_sgd_steps(reference, split, lr=0.1, batch_size=30, steps=11, seed=3)
    for a, b in zip(ours.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert [step for step, _ in seen] == list(range(12)) and all(training for _, training in seen)
    assert history.steps == 11 and history.extras["step"] == [0, 5, 10]
    assert history.epoch == [0, 1, 2, 3]  # 4 steps per epoch: stopped in epoch 3, evaluated there


def test_schedule_equals_lambda_lr_stepped_every_step():
    split = data.digits().subset(n_train=90, n_test=30)
    factor = lambda step: 0.5 ** (step // 3)  # noqa: E731
    ours, reference = _net(widths=(64, 8, 10)), _net(widths=(64, 8, 10))
    train.fit(ours, split, lr=0.2, epochs=3, batch_size=30, seed=1, schedule=factor, device="cpu")
    opt = torch.optim.SGD(reference.parameters(), lr=0.2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    generator = torch.Generator().manual_seed(1)
    for _ in range(3):
        order = torch.randperm(90, generator=generator)
        for begin in range(0, 90, 30):
            idx = order[begin:begin + 30]
            opt.zero_grad()
            F.cross_entropy(reference(split.X_train[idx]), split.y_train[idx]).backward()
            opt.step()
            scheduler.step()
    for a, b in zip(ours.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_schedule_that_changes_the_rate_changes_the_result():
    split = data.digits().subset(n_train=90, n_test=30)
    constant, decayed = _net(widths=(64, 8, 10)), _net(widths=(64, 8, 10))
    train.fit(constant, split, lr=0.2, epochs=2, batch_size=30, device="cpu")
    train.fit(decayed, split, lr=0.2, epochs=2, batch_size=30, schedule=lambda step: 1 / (1 + step), device="cpu")
    assert not torch.equal(constant.layers[0].weight, decayed.layers[0].weight)


@pytest.mark.parametrize("kwargs, message", [
    ({"on_step": 3}, "on_step"), ({"schedule": "cosine"}, "schedule"), ({"max_steps": 0}, "max_steps"),
    ({"max_steps": 2.5}, "max_steps"), ({"schedule": lambda step: float("nan")}, "schedule <lambda> returned nan"),
    ({"schedule": lambda step: -1.0}, "returned -1.0 at step 0"),
    ({"on_step": lambda model, step: [step]}, "on_step <lambda> returned list"),
])
def test_bad_hooks_and_step_limits_are_named(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        train.fit(_net(), data.regression_1d(n_train=10), epochs=1, device="cpu", **kwargs)
