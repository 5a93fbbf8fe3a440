"""lecturelib.optim.schedules against closed forms and torch.optim.lr_scheduler, driven through train.fit."""

import dataclasses
import functools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lecturelib import cache, data, optim, train

STEPS = 60


def _split(seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(24, 3, generator=g)
    y = torch.randn(24, 1, generator=g)
    return data.DataSplit(X, y, X[:8], y[:8])


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))


def _rates_through_fit(schedule, lr=0.1, batch_size=8):
    """The rate of every step of a fit run with ``schedule`` (read by on_step after the step)."""
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    rates = []

    def on_step(_model, count):
        if count:
            rates.append(opt.param_groups[0]["lr"])
    train.fit(model, _split(), optimizer=opt, schedule=schedule, batch_size=batch_size, max_steps=STEPS,
              epochs=STEPS, on_step=on_step)
    return rates


def _rates_of_scheduler(make_scheduler, lr=0.1):
    """The rate of every step of a torch scheduler stepped once per optimiser step."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = make_scheduler(opt)
    rates = []
    for _ in range(STEPS):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return rates


TORCH_EQUIVALENTS = [
    (optim.MultiStepDecay(milestones=(5, 17, 18, 40), factor=0.1),
     lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[5, 17, 18, 40], gamma=0.1)),
    (optim.MultiStepDecay(milestones=[10, 30, 45], factor=0.5),
     lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [10, 30, 45], 0.5)),
    (optim.WarmupLinearDecay(warmup=5, total=40), lambda o: torch.optim.lr_scheduler.ChainedScheduler([
        torch.optim.lr_scheduler.LinearLR(o, start_factor=1 / 5, end_factor=1.0, total_iters=4),
        torch.optim.lr_scheduler.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=40)])),
    (optim.StepDecay(every=7, factor=0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5)),
    (optim.StepDecay(every=1, factor=0.9), lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.9)),
    (optim.ExponentialDecay(rate=0.05),
     lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=math.exp(-0.05))),
    (optim.CosineWarmRestarts(period=10),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=10)),
    (optim.CosineWarmRestarts(period=5, multiplier=2, minimum=0.1),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.01)),
    (optim.CosineWarmRestarts(period=3, multiplier=3, minimum=0.5),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=3, eta_min=0.05)),
]


@pytest.mark.parametrize("schedule, make_scheduler", TORCH_EQUIVALENTS, ids=[repr(t[0]) for t in TORCH_EQUIVALENTS])
def test_fit_with_schedule_uses_torch_schedulers_rates(schedule, make_scheduler):
    ours = _rates_through_fit(schedule)
    theirs = _rates_of_scheduler(make_scheduler)
    assert len(ours) == STEPS
    assert len(set(round(r, 12) for r in theirs)) > 3, "the schedule must change the rate for the test to bite"
    torch.testing.assert_close(torch.tensor(ours, dtype=torch.float64), torch.tensor(theirs, dtype=torch.float64),
                               rtol=1e-10, atol=0)


def test_a_scheduled_fit_equals_a_loop_with_torch_steplr():
    """End to end: full-batch fit with StepDecay trains exactly as a hand loop with StepLR."""
    model = _net()
    train.fit(model, _split(), optimizer=functools.partial(optim.SGD, lr=0.2, momentum=0.5),
              schedule=optim.StepDecay(every=5, factor=0.3), epochs=20)
    reference = _net()
    opt = torch.optim.SGD(reference.parameters(), lr=0.2, momentum=0.5)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.3)
    split = _split()
    for _ in range(20):
        opt.zero_grad()
        nn.functional.mse_loss(reference(split.X_train), split.y_train).backward()
        opt.step()
        scheduler.step()
    for mine, theirs in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(mine, theirs, rtol=1e-6, atol=1e-7)
    assert not torch.allclose(next(model.parameters()), next(_net().parameters()))


CLOSED_FORMS = [
    (optim.StepDecay(every=3, factor=0.5), [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]),
    (optim.ExponentialDecay(rate=0.5), [math.exp(-0.5 * t) for t in range(10)]),
    (optim.ExponentialDecay(rate=0.0), [1.0] * 10),
    (optim.InverseTimeDecay(rate=0.25), [1 / (1 + 0.25 * t) for t in range(10)]),
    (optim.CosineWarmRestarts(period=4), [1, 0.5 + 0.5 * math.cos(math.pi / 4), 0.5, 0.5 - 0.5 * math.cos(math.pi / 4),
                                          1, 0.5 + 0.5 * math.cos(math.pi / 4), 0.5, 0.5 - 0.5 * math.cos(math.pi / 4),
                                          1, 0.5 + 0.5 * math.cos(math.pi / 4)]),
    # cycles [0, 2), [2, 6), [6, 14): restarts at 2 and 6, half-way at 1, 4 and 10
    (optim.CosineWarmRestarts(period=2, multiplier=2, minimum=0.2),
     [1, 0.6, 1, 0.2 + 0.4 * (1 + math.cos(math.pi / 4)), 0.6, 0.2 + 0.4 * (1 + math.cos(3 * math.pi / 4)),
      1, 0.2 + 0.4 * (1 + math.cos(math.pi / 8)), 0.2 + 0.4 * (1 + math.cos(math.pi / 4)),
      0.2 + 0.4 * (1 + math.cos(3 * math.pi / 8))]),
]


@pytest.mark.parametrize("schedule, expected", CLOSED_FORMS, ids=[repr(c[0]) for c in CLOSED_FORMS])
def test_closed_forms(schedule, expected):
    assert [schedule(t) for t in range(len(expected))] == pytest.approx(expected, rel=1e-14, abs=1e-15)


def test_long_cycles_of_growing_restarts():
    schedule = optim.CosineWarmRestarts(period=1, multiplier=2)
    assert schedule.cycle(2 ** 40 - 1) == (0, 2 ** 40)  # cycles 1, 2, 4, ...: cycle i starts at 2^i - 1
    assert schedule.cycle(2 ** 40 - 2) == (2 ** 39 - 1, 2 ** 39)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10 ** 6), st.integers(1, 1000), st.floats(0.01, 1.0), st.floats(0.0, 1.0))
def test_decays_never_grow_and_cosine_stays_in_range(step, every, factor, rate):
    for schedule in (optim.StepDecay(every=every, factor=factor), optim.ExponentialDecay(rate=rate),
                     optim.InverseTimeDecay(rate=rate)):
        assert 0.0 <= schedule(step + 1) <= schedule(step) <= 1.0
    cosine = optim.CosineWarmRestarts(period=every, multiplier=1 + step % 3, minimum=factor)
    assert factor - 1e-12 <= cosine(step) <= 1.0


BAD = [
    (optim.StepDecay, dict(every=0), ValueError, "every"),
    (optim.StepDecay, dict(every=2.0), TypeError, "every"),
    (optim.StepDecay, dict(every=2, factor=0.0), ValueError, "factor"),
    (optim.StepDecay, dict(every=2, factor=1.5), ValueError, "factor"),
    (optim.StepDecay, dict(every=2, factor=math.nan), ValueError, "factor"),
    (optim.ExponentialDecay, dict(rate=-0.1), ValueError, "rate"),
    (optim.ExponentialDecay, dict(rate=math.inf), ValueError, "rate"),
    (optim.InverseTimeDecay, dict(rate=math.nan), ValueError, "rate"),
    (optim.CosineWarmRestarts, dict(period=0), ValueError, "period"),
    (optim.CosineWarmRestarts, dict(period=5, multiplier=0), ValueError, "multiplier"),
    (optim.CosineWarmRestarts, dict(period=5, multiplier=1.5), TypeError, "multiplier"),
    (optim.CosineWarmRestarts, dict(period=5, minimum=1.5), ValueError, "minimum"),
    (optim.CosineWarmRestarts, dict(period=5, minimum=-0.1), ValueError, "minimum"),
]


@pytest.mark.parametrize("cls, kwargs, error, name", BAD, ids=[f"{b[0].__name__}-{i}" for i, b in enumerate(BAD)])
def test_bad_arguments_are_refused(cls, kwargs, error, name):
    with pytest.raises(error, match=name):
        cls(**kwargs)


@pytest.mark.parametrize("step, error", [(-1, ValueError), (1.5, TypeError), (True, TypeError)])
def test_bad_steps_are_refused(step, error):
    with pytest.raises(error, match="step"):
        optim.StepDecay(every=2)(step)


def test_frozen_describable_and_keyed_by_their_fields():
    schedule = optim.CosineWarmRestarts(period=10, multiplier=2, minimum=0.1)
    assert schedule.describe() == {"period": 10, "multiplier": 2, "minimum": 0.1}
    with pytest.raises(dataclasses.FrozenInstanceError):
        schedule.period = 3

    def spec(s):
        return cache.RunSpec("sched", _split(), _net, schedule=s, epochs=1)
    assert spec(optim.StepDecay(every=3)).describe() == spec(optim.StepDecay(every=3)).describe()
    assert spec(optim.StepDecay(every=3)).describe() != spec(optim.StepDecay(every=4)).describe()
    assert spec(optim.ExponentialDecay(0.1)).describe() != spec(optim.InverseTimeDecay(0.1)).describe()


def test_multi_step_decay_rejects_milestones_that_do_not_increase():
    for milestones, match in (((), "milestones"), ((5, 5), "increase"), ((3, 0), "milestones"), ((2.5,), "milestones")):
        with pytest.raises((ValueError, TypeError), match=match):
            optim.MultiStepDecay(milestones=milestones)
    assert optim.MultiStepDecay(milestones=[2, 4]).describe() == {"milestones": (2, 4), "factor": 0.1}
