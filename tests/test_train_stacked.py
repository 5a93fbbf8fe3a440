"""lecturelib.train.fit_stacked against each member trained alone: torch.optim through
lecturelib.train.fit (written-out SGD and Adam, per-member rates, minibatches, schedules, hooks)
and torch.optim.Adam by hand (the autograd computation)."""

import copy
import functools

import pytest
import torch

from lecturelib import data, device, models, train
from lecturelib.models import StackedMLP
from lecturelib.train import fit_stacked


def _split(n_train=12, n_test=9, seed=2):
    split = data.regression_1d(n_train=n_train, n_test=n_test, seed=seed)
    return data.DataSplit(split.X_train.double(), split.y_train.double(), split.X_test.double(),
                          split.y_test.double(), split.description)


def _mlps(hidden, residual, seed=7):
    torch.manual_seed(seed)
    widths = [[1] + [5] * k + [1, 1] for k in hidden]
    return [models.MLP(w, "leaky_relu", residual=r and any(models.square_hidden_layers(w))).double()
            for w, r in zip(widths, residual)]


def _relative(a, b):
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def _assert_like_fit(stack, history, mlps, references, rtol=1e-9):
    """Every member's parameters and losses equal those of train.fit on the member alone."""
    for m, (mlp, reference) in enumerate(zip(mlps, references)):
        for mine, theirs in zip(stack.to_mlp(m).parameters(), mlp.parameters()):
            assert _relative(mine, theirs) < rtol
        assert history.epoch == reference.epoch
        torch.testing.assert_close(torch.tensor([row[m] for row in history.train_loss], dtype=torch.float64),
                                   torch.tensor(reference.train_loss, dtype=torch.float64), rtol=rtol, atol=1e-14)
        torch.testing.assert_close(torch.tensor([row[m] for row in history.test_loss], dtype=torch.float64),
                                   torch.tensor(reference.test_loss, dtype=torch.float64), rtol=rtol, atol=1e-14)


@pytest.mark.parametrize("optimizer, kwargs", [
    ("adam", {}),
    ("adam", {"weight_decay": 1e-2}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"weight_decay": 1e-3}),
])
def test_written_training_equals_torch_optim_per_member(optimizer, kwargs):
    split = _split()
    rates = [0.01, 0.005, 0.03] if optimizer == "adam" else [0.05, 0.02, 0.05]
    mlps = _mlps([1, 3, 5], [False, True, False])
    stack = StackedMLP.from_mlps(mlps)
    history = fit_stacked(stack, split, optimizer, lr=rates, epochs=15, eval_every=5, computation="written",
                          device="cpu", **kwargs)
    assert history.epoch == [0, 5, 10, 15] and history.steps == 15
    references = [train.fit(mlp, split, optimizer=optimizer, lr=rate, epochs=15, eval_every=5, device="cpu",
                            progress=False, **kwargs) for mlp, rate in zip(mlps, rates)]
    _assert_like_fit(stack, history, mlps, references)
    # Padding stays exactly zero: the 1-hidden-layer member uses none of the 4 blocks.
    assert all(weight[0].abs().max() == 0 and bias[0].abs().max() == 0 for weight, bias in stack.layers[1:5])


@pytest.mark.parametrize("computation", ["torch", "written"])
def test_minibatches_and_schedule_follow_fit(computation):
    split = _split(n_train=20)
    mlps = _mlps([2, 4], [True, False], seed=3)
    stack = StackedMLP.from_mlps(mlps)
    schedule = functools.partial(max, 0.5)  # factor max(0.5, step): 0.5 before the first step, then >= 1
    history = fit_stacked(stack, split, "sgd", lr=0.01, epochs=3, batch_size=6, seed=4, schedule=schedule,
                          computation=computation, device="cpu")
    assert history.steps == 12  # 4 batches per epoch
    references = [train.fit(mlp, split, optimizer="sgd", lr=0.01, epochs=3, batch_size=6, seed=4, schedule=schedule,
                            device="cpu", progress=False) for mlp in mlps]
    _assert_like_fit(stack, history, mlps, references)


def test_torch_computation_equals_separate_adam_runs():
    split = _split(n_train=12, n_test=5, seed=0)
    members = []
    for activation, width in (("leaky_relu", 2), ("leaky_relu", 5), ("prelu", 3), ("tanh", 4), ("identity", 5)):
        torch.manual_seed(width)
        members.append(models.MLP([1, width, width, 1, 1], activation=activation).double())
    references = [copy.deepcopy(m) for m in members]
    stack = StackedMLP.from_mlps(members)
    history = fit_stacked(stack, split, "adam", lr=0.01, epochs=40, eval_every=20, device="cpu")
    assert history.epoch == [0, 20, 40] and len(history.train_loss[-1]) == 5
    for reference in references:  # the trusted reference: torch.optim.Adam on each network alone
        optimizer = torch.optim.Adam(reference.parameters(), lr=0.01)
        for _ in range(40):
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(reference(split.X_train), split.y_train).backward()
            optimizer.step()
    for m, (trained, reference) in enumerate(zip(stack.to_mlps(), references)):
        for p, q in zip(trained.parameters(), reference.parameters()):
            assert torch.allclose(p, q, rtol=0, atol=1e-10)
        with torch.no_grad():
            final = torch.nn.functional.mse_loss(reference(split.X_train), split.y_train).item()
        assert history.train_loss[-1][m] == pytest.approx(final, rel=1e-9)


def _losses_per_member(outputs, y):
    return (outputs - y).abs().mean(dim=(1, 2))


def _first_weight(model, step):
    return {"w": float(model.theta[0, 0].detach())} if step % 2 == 0 else None


def _epoch_seen(model, epoch):
    return {"epoch_seen": epoch}


def test_hooks_max_steps_and_custom_loss():
    split = _split()
    stack = StackedMLP.from_mlps(_mlps([2, 3], [False, True]))
    history = fit_stacked(stack, split, "sgd", lr=0.01, epochs=10, eval_every=4, max_steps=6,
                          loss_fn=_losses_per_member, callback=_epoch_seen, on_step=_first_weight, device="cpu")
    assert history.steps == 6 and history.epoch == [0, 4, 6]
    assert history.extras["epoch_seen"] == [0, 4, 6] and len(history.extras["w"]) == 4  # steps 0, 2, 4, 6
    with torch.no_grad():
        expected = _losses_per_member(stack(split.X_train), split.y_train).tolist()
    assert history.train_loss[-1] == pytest.approx(expected, rel=1e-12)


def test_global_torch_state_is_restored():
    threads = torch.get_num_threads()
    flushing = device.flushes_denormals()
    stack = StackedMLP.from_mlps(_mlps([2, 3], [False, True]))
    fit_stacked(stack, _split(), "adam", lr=0.01, epochs=2, computation="written", device="cpu")
    assert torch.get_num_threads() == threads and device.flushes_denormals() == flushing


def test_bad_arguments_are_refused_before_training():
    stack = StackedMLP.from_mlps(_mlps([2, 3], [False, True]))
    split = _split()
    before = stack.theta.detach().clone()
    cases = [
        (TypeError, "model", dict(model=models.MLP([1, 5, 1]))),
        (TypeError, "data", dict(data=(split.X_train, split.y_train))),
        (ValueError, "computation", dict(computation="numpy")),
        (ValueError, "one learning rate per member", dict(lr=[0.1, 0.2])),
        (ValueError, "lr", dict(lr=[0.1], computation="written")),
        (ValueError, "lr", dict(lr=float("nan"))),
        (ValueError, "lr", dict(lr=-1.0)),
        (ValueError, r"lr\[1\]", dict(lr=[0.1, float("inf")], computation="written")),
        (ValueError, "optimizer", dict(optimizer="rmsprop", computation="written")),
        (ValueError, "momentum", dict(optimizer="adam", momentum=0.9, computation="written")),
        (ValueError, "loss_fn", dict(loss_fn=_losses_per_member, computation="written")),
        (ValueError, "epochs", dict(epochs=-1)),
        (TypeError, "eval_every", dict(eval_every=2.0)),
        (ValueError, "momentum", dict(momentum=float("nan"))),
        (ValueError, "weight_decay", dict(weight_decay=float("inf"))),
        (TypeError, "on_step", dict(on_step=3)),
        (ValueError, "max_steps", dict(max_steps=0)),
    ]
    for error, name, change in cases:
        arguments = dict(model=stack, data=split, optimizer="sgd", lr=0.1, epochs=1, device="cpu") | change
        with pytest.raises(error, match=name):
            fit_stacked(**arguments)
    nan = data.DataSplit(torch.full_like(split.X_train, float("nan")), split.y_train, split.X_test, split.y_test)
    with pytest.raises(ValueError, match="X_train.*NaN"):
        fit_stacked(stack, nan, epochs=1)
    labels = data.DataSplit(split.X_train, torch.zeros(len(split.X_train), dtype=torch.long), split.X_test,
                            torch.zeros(len(split.X_test), dtype=torch.long))
    with pytest.raises(ValueError, match="regression"):
        fit_stacked(stack, labels, epochs=1)
    prelu = StackedMLP.from_mlps([models.MLP([1, 3, 1], "prelu").double()])
    with pytest.raises(ValueError, match="PReLU"):
        fit_stacked(prelu, split, epochs=1, computation="written")
    assert torch.equal(stack.theta.detach(), before)
