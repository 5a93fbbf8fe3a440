"""The one cached run of the lectures' 78-parameter network that every chapter loads."""

import pytest
import torch

from lecturelib import data, params
from lecturelib.experiments.lecture_network import (LECTURE_WIDTHS, lecture_regression,
                                                    train_lecture_network)
from lecturelib.models import MLP

pytestmark = pytest.mark.usefixtures("one_thread")


def test_lecture_network_is_the_78_parameter_net_at_a_minimum():
    run = train_lecture_network()
    assert isinstance(run.model, MLP)
    assert params.vector(run.model).numel() == 78
    assert [layer.in_features for layer in run.model.layers] + [run.model.layers[-1].out_features] == list(LECTURE_WIDTHS)
    split = lecture_regression()
    with torch.no_grad():
        loss = torch.nn.functional.mse_loss(run.model(split.X_train), split.y_train).item()
    # A minimum, not a plateau: the fit is close to the noise level (noise 0.1, so variance 0.01)
    # and far below the variance of the targets.
    assert loss < 0.01 < split.y_train.var().item()
    # ... and a stationary point: the full-batch gradient is small.
    run.model.zero_grad()
    torch.nn.functional.mse_loss(run.model(split.X_train), split.y_train).backward()
    gradient = torch.cat([p.grad.flatten() for p in run.model.parameters()])
    assert gradient.norm().item() < 1e-2


def test_every_call_loads_the_same_run():
    first = train_lecture_network()
    second = train_lecture_network(lecture_regression())
    assert second.from_cache
    assert torch.equal(params.vector(first.model), params.vector(second.model))


@pytest.mark.parametrize("split, message", [
    ("not a split", "split must be"),
    (data.toy_2d("moons", n_samples=40), "1-D regression"),
])
def test_train_lecture_network_rejects_other_data(split, message):
    with pytest.raises((TypeError, ValueError), match=message):
        train_lecture_network(split)
