"""Progress bars of lecturelib.train (lecturelib.train.progress): a bar per fit and per stacked fit
counting every epoch, none when LECTURELIB_PROGRESS=0, and the same training with or without one.
tqdm is replaced by a recorder, so the tests see every bar that would be drawn."""

import copy

import pytest
import torch

from lecturelib import data, models, train
from lecturelib.models import StackedMLP
from lecturelib.train import progress


class Recorder:
    """Stands in for tqdm: records how each bar was made, updated and closed."""

    bars: list = []

    def __init__(self, iterable=None, **options):
        self.iterable, self.options, self.count, self.postfix, self.closed = iterable, options, 0, {}, False
        Recorder.bars.append(self)

    def update(self, n=1):
        self.count += n

    def set_postfix(self, refresh=True, **values):
        self.postfix = values

    def close(self):
        self.closed = True

    def __iter__(self):
        for item in self.iterable:
            self.count += 1
            yield item


@pytest.fixture
def bars(monkeypatch):
    Recorder.bars = []
    monkeypatch.setattr(progress, "tqdm", Recorder)
    return Recorder.bars


def _regression():
    split = data.regression_1d(n_train=12, n_test=9, seed=2)
    return data.DataSplit(split.X_train.double(), split.y_train.double(), split.X_test.double(),
                          split.y_test.double(), split.description)


def _mlp(seed=0):
    torch.manual_seed(seed)
    return models.MLP([1, 5, 5, 1], "tanh").double()


def test_fit_bar_counts_every_epoch_and_shows_the_last_loss(bars):
    model = _mlp()
    history = train.fit(model, _regression(), lr=0.05, epochs=7, eval_every=3, progress=True, device="cpu")
    (bar,) = bars
    assert bar.options["total"] == 7 and bar.count == 7 and bar.closed
    assert bar.options["delay"] == progress.DELAY and bar.options["leave"] is False
    assert bar.postfix["train_loss"] == f"{history.train_loss[-1]:.4g}"


def test_max_steps_closes_the_bar_where_the_run_stops(bars):
    train.fit(_mlp(), _regression(), lr=0.05, epochs=9, batch_size=4, max_steps=5, progress=True, device="cpu")
    (bar,) = bars
    assert bar.count == 2 and bar.closed  # 3 steps an epoch: step 5 falls in epoch 2


def test_no_bar_when_progress_is_off(bars, monkeypatch):
    monkeypatch.setenv("LECTURELIB_PROGRESS", "0")
    train.fit(_mlp(), _regression(), lr=0.05, epochs=3, device="cpu")
    train.fit(_mlp(), _regression(), lr=0.05, epochs=0, progress=True, device="cpu")
    assert bars == []
    monkeypatch.setenv("LECTURELIB_PROGRESS", "1")
    train.fit(_mlp(), _regression(), lr=0.05, epochs=3, device="cpu")
    assert len(bars) == 1


def test_training_is_the_same_with_and_without_a_bar(bars):
    quiet, shown = _mlp(), _mlp()
    a = train.fit(quiet, _regression(), lr=0.05, epochs=5, batch_size=4, progress=False, device="cpu")
    b = train.fit(shown, _regression(), lr=0.05, epochs=5, batch_size=4, progress=True, device="cpu")
    assert a.train_loss == b.train_loss and a.test_loss == b.test_loss
    for p, q in zip(quiet.parameters(), shown.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("computation", ["torch", "written"])
def test_stacked_fit_has_a_bar_named_after_its_members(bars, computation):
    torch.manual_seed(0)
    stack = StackedMLP([[1, 5, 1], [1, 4, 4, 1], [1, 3, 1]], "tanh", dtype=torch.float64)
    twin = copy.deepcopy(stack)
    history = train.fit_stacked(stack, _regression(), lr=0.05, epochs=6, computation=computation,
                                progress=True, device="cpu")
    (bar,) = bars
    assert bar.options["desc"] == "training 3 nets" and bar.options["total"] == 6
    assert bar.count == 6 and bar.closed
    mean = sum(history.train_loss[-1]) / 3
    assert bar.postfix["train_loss"] == f"{mean:.4g}"
    quiet = train.fit_stacked(twin, _regression(), lr=0.05, epochs=6, computation=computation,
                              progress=False, device="cpu")
    assert quiet.train_loss == history.train_loss


def test_stacked_fit_follows_the_environment(bars, monkeypatch):
    monkeypatch.setenv("LECTURELIB_PROGRESS", "0")
    train.fit_stacked(StackedMLP([[1, 3, 1]], "tanh", dtype=torch.float64), _regression(), epochs=2, device="cpu")
    assert bars == []


def test_progress_over_yields_every_item_with_a_bar_only_when_wanted(bars, monkeypatch):
    items = [3, 1, 2]
    assert list(train.progress_over(items, "rates", progress=True)) == items
    (bar,) = bars
    assert bar.count == 3 and bar.options["desc"] == "rates" and bar.options["unit"] == "run"
    monkeypatch.setenv("LECTURELIB_PROGRESS", "0")
    assert train.progress_over(items, "rates") is items
    assert len(bars) == 1


def test_progress_over_refuses_a_description_that_is_not_text():
    with pytest.raises(TypeError, match="description must be a str, got int"):
        train.progress_over([1], 5)
