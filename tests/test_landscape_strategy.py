"""The landscape engine's paths and its measured choice: every strategy (per-point, vectorised at
several chunk sizes, "auto") against direct float64 evaluation of each moved network
(train.evaluate) and against each other; the choice follows the timings it is shown; the
decision is remembered per model shape, data shape and device, and an explicit engine wins."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lecturelib import landscape as L
from lecturelib.landscape import engine, strategy
from lecturelib.landscape.engine import evaluate_affine
from lecturelib.models import MLP
from lecturelib.models.convnets import ResNet, SmallCNN
from lecturelib.train import evaluate


@pytest.fixture(autouse=True)
def _float64_and_no_decisions():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    strategy.clear_decisions()
    yield
    strategy.clear_decisions()
    torch.set_default_dtype(previous)


def _moved(model, origin, directions, row):
    """The network at origin + sum_k row[k] * directions[k], built by hand."""
    moved = copy.deepcopy(model)
    with torch.no_grad():
        for name, tensor in list(moved.named_parameters()) + list(moved.named_buffers()):
            if name in origin:
                tensor.copy_(origin[name])
            for d, c in zip(directions, row):
                if name in d:
                    tensor.add_(float(c) * d[name])
    return moved


def _direct(model, X, y, directions, coefficients, origin=None):
    results = [evaluate(_moved(model, origin or {}, directions, row), (X, y)) for row in coefficients]
    return np.array([r["loss"] for r in results]), np.array([r.get("accuracy", np.nan) for r in results])


STRATEGIES = [dict(engine="loop"), dict(engine="loop", batch_size=7), dict(engine="vmap"),
              dict(engine="vmap", chunk_size=3, batch_size=11), dict(engine="auto"), dict(engine="auto", chunk_size=2)]


class _Tied(nn.Module):
    """Two hidden layers of one net share one weight tensor (two modules, one parameter)."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(4, 6)
        self.inner = nn.Linear(6, 6)
        self.outer = nn.Linear(6, 6)
        self.outer.weight = self.inner.weight  # tied: "outer.weight" is "inner.weight"
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        hidden = torch.tanh(self.encoder(x))  # (n, 6)
        return self.head(torch.tanh(self.outer(torch.tanh(self.inner(hidden)))))


def _cases():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    wide = MLP([20, 8, 4], "leaky_relu").double()  # fan-in 20: the per-point path assembles layer 0
    Xw, yw = torch.randn(30, 20, generator=g), torch.randint(0, 4, (30,), generator=g)
    yield "wide input, first layer moves", wide, Xw, yw, [L.random_direction(wide, generator=s) for s in (1, 2)], None
    mlp = MLP([3, 8, 6, 4], "leaky_relu").double()
    X, y = torch.randn(30, 3, generator=g), torch.randint(0, 4, (30,), generator=g)
    yield "mlp, first layer moves", mlp, X, y, [L.random_direction(mlp, generator=s) for s in (1, 2)], None
    fixed_first = [{k: v for k, v in L.random_direction(mlp, generator=s).items() if not k.startswith("layers.0")}
                   for s in (3, 4)]
    yield "mlp, first layer fixed", mlp, X, y, fixed_first, None
    only_first = [{k: v for k, v in L.random_direction(mlp, ignore=None, generator=5).items()
                   if k.startswith("layers.0")}]
    yield "mlp, only the first layer moves (K = 1)", mlp, X, y, only_first, None
    other = MLP([3, 8, 6, 4], "leaky_relu").double()
    origin = {k: v.detach() for k, v in other.named_parameters()}
    yield "mlp, origin override, K = 3", mlp, X, y, [L.random_direction(mlp, generator=s) for s in (6, 7, 8)], origin
    regression = MLP([2, 5, 1], "tanh").double()
    Xr, yr = torch.randn(25, 2, generator=g), torch.randn(25, 1, generator=g)
    yield "regression", regression, Xr, yr, [L.random_direction(regression, generator=s) for s in (1, 2)], None
    resnet = ResNet((1, 6, 6), num_classes=3, blocks_per_stage=1, widths=(2, 3)).double()
    Xc, yc = torch.randn(12, 36, generator=g), torch.randint(0, 3, (12,), generator=g)
    resnet.train()
    resnet(Xc)  # running statistics away from their initial values
    resnet.eval()
    yield "resnet, batch-norm state directions", resnet, Xc, yc, \
        [L.random_direction(resnet, kind="states", ignore=None, generator=s) for s in (1, 2)], None
    tied = _Tied().double()
    Xt, yt = torch.randn(20, 4, generator=g), torch.randint(0, 3, (20,), generator=g)
    yield "tied weights", tied, Xt, yt, [L.random_direction(tied, ignore=None, generator=s) for s in (1, 2)], None
    yield from _cnn_cases(g)


def _cnn_cases(g):
    torch.manual_seed(1)
    cnn = SmallCNN((1, 6, 6), num_classes=3, channels=(4, 5)).double()  # fan-in 9: K = 1 assembles conv 0
    Xn, yn = torch.randn(14, 36, generator=g), torch.randint(0, 3, (14,), generator=g)
    yield "cnn, K = 2", cnn, Xn, yn, [L.random_direction(cnn, generator=s) for s in (1, 2)], None
    yield "cnn, K = 1, first convolution assembled", cnn, Xn, yn, [L.random_direction(cnn, generator=3)], None
    # an unflattening module comes first, so no first layer is assembled and every convolution runs
    unflattened = nn.Sequential(nn.Unflatten(1, (1, 6, 6)), nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(45, 3)).double()
    yield "cnn, no first layer to assemble", unflattened, Xn, yn, \
        [L.random_direction(unflattened, generator=s) for s in (4, 5)], None


CASE_NAMES = ["wide input, first layer moves", "mlp, first layer moves", "mlp, first layer fixed", "mlp, only the first layer moves (K = 1)",
              "mlp, origin override, K = 3", "regression", "resnet, batch-norm state directions", "tied weights",
              "cnn, K = 2", "cnn, K = 1, first convolution assembled", "cnn, no first layer to assemble"]


@pytest.mark.parametrize("index", range(len(CASE_NAMES)), ids=CASE_NAMES)
def test_every_strategy_equals_direct_evaluation(index):
    name, model, X, y, directions, origin = list(_cases())[index]
    assert name == CASE_NAMES[index]
    coefficients = torch.randn(23, len(directions), generator=torch.Generator().manual_seed(1))
    coefficients[0] = 0.0
    loss_ref, acc_ref = _direct(model, X, y, directions, coefficients, origin)
    surfaces = []
    for options in STRATEGIES:
        loss, acc = evaluate_affine(model, X, y, directions, coefficients, origin=origin, device="cpu", **options)
        np.testing.assert_allclose(loss, loss_ref, rtol=1e-10, err_msg=str(options))
        if acc is not None:
            np.testing.assert_array_equal(acc, acc_ref, err_msg=str(options))
        surfaces.append(loss)
    for other in surfaces[1:]:  # and with each other
        np.testing.assert_allclose(other, surfaces[0], rtol=1e-10)


@pytest.mark.parametrize("index", [CASE_NAMES.index(name) for name in ("cnn, K = 2", "cnn, K = 1, first convolution assembled",
                                                                     "cnn, no first layer to assemble",
                                                                     "resnet, batch-norm state directions", "mlp, first layer moves")])
def test_every_candidate_auto_may_choose_equals_direct_evaluation(monkeypatch, index):
    """Each path "auto" can time (the channels-last per-point path among them, for models with 2-D
    convolutions on the CPU) gives the direct surface on every point, not only on its slice."""
    name, model, X, y, directions, origin = list(_cases())[index]
    coefficients = torch.randn(9, len(directions), generator=torch.Generator().manual_seed(2))
    surfaces = {}

    def every(coefficients, candidates, key, device):
        for choice, factory in candidates.items():
            surfaces[choice] = factory()(coefficients)
        return (*surfaces[("loop", None)], ("loop", None))

    monkeypatch.setattr(strategy, "choose_and_evaluate", every)
    evaluate_affine(model, X, y, directions, coefficients, origin=origin, device="cpu")
    convolutional = name.startswith(("cnn", "resnet"))
    assert (("loop", "channels_last") in surfaces) == convolutional
    loss_ref, acc_ref = _direct(model, X, y, directions, coefficients, origin)
    for choice, (loss, acc) in surfaces.items():
        np.testing.assert_allclose(loss.double().numpy(), loss_ref, rtol=1e-10, err_msg=str(choice))
        np.testing.assert_array_equal(acc.double().numpy(), acc_ref, err_msg=str(choice))


@pytest.mark.parametrize("name", ["cnn, K = 2", "cnn, no first layer to assemble"])
def test_the_channels_last_path_computes_in_that_format(monkeypatch, name):
    """The first convolution assembled from products stored channels-last, or (where no first layer
    can be assembled) every convolution's output converted: the pooling reads channels-last
    activations either way."""
    from lecturelib.landscape import engine_pointwise
    _, model, X, y, directions, _ = list(_cases())[CASE_NAMES.index(name)]
    formats = []
    original = F.max_pool2d
    monkeypatch.setattr(F, "max_pool2d", lambda z, *a, **k: (formats.append(
        z.is_contiguous(memory_format=torch.channels_last) and not z.is_contiguous()), original(z, *a, **k))[1])
    for channels_last in (False, True):
        arguments = _evaluator_arguments(model, X, y, directions)
        formats.clear()
        engine_pointwise.pointwise_evaluator(*arguments, channels_last=channels_last)(torch.zeros(2, len(directions)))
        assert formats == [channels_last] * 2


def _evaluator_arguments(model, X, y, directions):
    from lecturelib import params
    from lecturelib.losses import cross_entropy
    work = copy.deepcopy(model).eval()
    base = params.state(work, include_buffers=True)
    stacked = {n: torch.stack([d.get(n, torch.zeros_like(base[n])) for d in directions]) for n in base
               if any(n in d for d in directions)}
    first = engine._probe(work, X)[2]
    return work, X, y, base, stacked, len(directions), cross_entropy, True, None, first


@pytest.mark.parametrize("block, elements", [(4, 2 ** 22), (64, 1)], ids=["blocks of 4", "one point per block"])
@pytest.mark.parametrize("index", [CASE_NAMES.index(name) for name in ("mlp, first layer moves", "regression")])
def test_losses_in_blocks_equal_direct_evaluation(monkeypatch, block, elements, index):
    """The per-point path keeps the outputs of several points for one batched loss: full blocks, a
    last partial block and blocks of one point give the direct surface."""
    from lecturelib.landscape import engine_pointwise
    monkeypatch.setattr(engine_pointwise, "LOSS_BLOCK", block)
    monkeypatch.setattr(engine_pointwise, "LOSS_BLOCK_ELEMENTS", elements)
    name, model, X, y, directions, origin = list(_cases())[index]
    coefficients = torch.randn(23, len(directions), generator=torch.Generator().manual_seed(3))
    loss_ref, acc_ref = _direct(model, X, y, directions, coefficients, origin)
    for options in (dict(engine="loop"), dict(engine="loop", batch_size=7)):
        loss, acc = evaluate_affine(model, X, y, directions, coefficients, origin=origin, device="cpu", **options)
        np.testing.assert_allclose(loss, loss_ref, rtol=1e-10, err_msg=str(options))
        if acc is not None:
            np.testing.assert_array_equal(acc, acc_ref, err_msg=str(options))


@pytest.mark.parametrize("index", [CASE_NAMES.index(name) for name in ("mlp, first layer moves", "mlp, origin override, K = 3",
                                                                     "cnn, K = 1, first convolution assembled")])
def test_grid_rows_that_share_coefficients_equal_direct_evaluation(index):
    """Along a grid row all coefficients but the last repeat; the per-point path keeps their sum for
    the row, and rows that start again (a repeated head after a different one) are recomputed."""
    name, model, X, y, directions, origin = list(_cases())[index]
    K = len(directions)
    axis = torch.tensor([-0.7, 0.0, 0.4])
    grid = torch.cartesian_prod(*[axis] * K).reshape(-1, K)  # the last coefficient varies fastest
    coefficients = torch.cat([grid, grid[:4]])  # the first rows once more, after the last
    loss_ref, acc_ref = _direct(model, X, y, directions, coefficients, origin)
    loss, acc = evaluate_affine(model, X, y, directions, coefficients, origin=origin, device="cpu", engine="loop")
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-10)
    if acc is not None:
        np.testing.assert_array_equal(acc, acc_ref)


def test_model_is_left_untouched_by_the_per_point_path():
    torch.manual_seed(0)
    model = MLP([3, 5, 2], "relu").double()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    X, y = torch.randn(9, 3), torch.randint(0, 2, (9,))
    evaluate_affine(model, X, y, [L.random_direction(model, generator=1)], torch.randn(5, 1), engine="loop",
                    device="cpu")
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]) and value.data_ptr() != 0


def _fake_candidates(costs, clock, calls):
    """Candidates whose evaluators return each row's index and advance ``clock`` by their cost per point."""
    def factory(choice):
        def make():
            def evaluate(c):
                calls.append((choice, len(c)))
                clock[0] += costs[choice] * len(c)
                return c[:, 0].clone(), -c[:, 0].clone()
            return evaluate
        return make
    return {choice: factory(choice) for choice in costs}


@pytest.mark.parametrize("fastest", [("loop", None), ("vmap", 8), ("vmap", 2)])
def test_auto_keeps_the_candidate_measured_fastest_and_evaluates_each_point_once(monkeypatch, fastest):
    clock, calls = [0.0], []
    monkeypatch.setattr(strategy, "_clock", lambda device: clock[0])
    monkeypatch.setattr(strategy, "MEASURE_SECONDS", 0.01)  # 10 points of the slow candidates
    costs = {("loop", None): 1e-3, ("vmap", 8): 1e-3, ("vmap", 2): 1e-3}
    costs[fastest] = 1e-4
    coefficients = torch.arange(500.0)[:, None]
    loss, acc, chosen = strategy.choose_and_evaluate(coefficients, _fake_candidates(costs, clock, calls), ("k",),
                                                     torch.device("cpu"))
    assert chosen == fastest
    assert torch.equal(loss, coefficients[:, 0]) and torch.equal(acc, -coefficients[:, 0])  # in order, once each
    assert sum(n for _, n in calls) == 500
    assert calls[-1][0] == fastest  # the rest of the grid went to the winner
    assert strategy.cached_decision(("k",)) == fastest
    # the next surface with the same key skips the measurement
    calls.clear()
    strategy.choose_and_evaluate(coefficients, _fake_candidates(costs, clock, calls), ("k",), torch.device("cpu"))
    assert calls == [(fastest, 500)]


def test_a_grid_too_short_to_measure_every_candidate_is_not_remembered(monkeypatch):
    clock, calls = [0.0], []
    monkeypatch.setattr(strategy, "_clock", lambda device: clock[0])
    costs = {("loop", None): 1e-3, ("vmap", 64): 1e-4}
    loss, _, _ = strategy.choose_and_evaluate(torch.arange(3.0)[:, None], _fake_candidates(costs, clock, calls),
                                              ("short",), torch.device("cpu"))
    assert torch.equal(loss, torch.arange(3.0)) and strategy.cached_decision(("short",)) is None


def test_decisions_are_keyed_by_model_shape_data_and_device():
    a, b = MLP([3, 5, 2]).double(), MLP([3, 6, 2]).double()
    X = torch.randn(10, 3)
    state = lambda m: {k: v.detach() for k, v in m.named_parameters()}  # noqa: E731
    key = strategy.decision_key(a, state(a), X, 2, None, torch.device("cpu"))
    assert key == strategy.decision_key(MLP([3, 5, 2]).double(), state(a), X, 2, None, torch.device("cpu"))
    assert key != strategy.decision_key(b, state(b), X, 2, None, torch.device("cpu"))
    assert key != strategy.decision_key(a, state(a), X[:5], 2, None, torch.device("cpu"))
    assert key != strategy.decision_key(a, state(a), X, 2, None, torch.device("meta"))
    assert key != strategy.decision_key(a, state(a), X, 1, None, torch.device("cpu"))


@pytest.mark.parametrize("explicit, other", [("loop", "vmap"), ("vmap", "loop")])
def test_an_explicit_engine_wins_over_a_remembered_decision(monkeypatch, explicit, other):
    torch.manual_seed(0)
    model = MLP([3, 5, 2]).double()
    X, y = torch.randn(9, 3), torch.randint(0, 2, (9,))
    directions = [L.random_direction(model, generator=1)]
    coefficients = torch.randn(40, 1)
    evaluate_affine(model, X, y, directions, coefficients, chunk_size=4, device="cpu")  # "auto" remembers
    base = {k: v.detach() for k, v in model.named_parameters()}
    key = strategy.decision_key(model, base, X, 1, None, torch.device("cpu"))
    strategy._DECISIONS[key] = (other, None if other == "loop" else 4)
    used = []
    for name, path in (("pointwise_evaluator", "loop"), ("vmap_evaluator", "vmap")):
        original = getattr(engine, name)
        monkeypatch.setattr(engine, name, lambda *a, _o=original, _p=path, **k: (used.append(_p), _o(*a, **k))[1])
    evaluate_affine(model, X, y, directions, coefficients, engine=explicit, device="cpu")
    assert used == [explicit]
    used.clear()
    evaluate_affine(model, X, y, directions, coefficients, chunk_size=4, device="cpu")
    assert used == [other]


def test_user_loss_reaches_both_paths():
    torch.manual_seed(0)
    model = MLP([3, 5, 2]).double()
    X, y = torch.randn(9, 3), torch.randint(0, 2, (9,))
    directions = [L.random_direction(model, generator=1)]
    coefficients = torch.randn(6, 1)
    doubled = lambda out, target: 2 * F.cross_entropy(out, target)  # noqa: E731
    plain = evaluate_affine(model, X, y, directions, coefficients, engine="loop", device="cpu")[0]
    for engine_name in ("loop", "vmap"):
        loss = evaluate_affine(model, X, y, directions, coefficients, loss_fn=doubled, engine=engine_name,
                               device="cpu")[0]
        np.testing.assert_allclose(loss, 2 * plain, rtol=1e-10)


def test_first_layer_products_are_kept_per_span_within_the_budget():
    from lecturelib.landscape.precompute import kept

    calls = []

    def compute(start, stop):
        calls.append((start, stop))
        return torch.arange(float(start), float(stop))

    get = kept(compute, budget=5)
    assert torch.equal(get(0, 3), torch.arange(0.0, 3.0)) and torch.equal(get(0, 3), torch.arange(0.0, 3.0))
    assert calls == [(0, 3)]  # taken once
    assert torch.equal(get(3, 6), torch.arange(3.0, 6.0)) and torch.equal(get(3, 6), torch.arange(3.0, 6.0))
    assert calls == [(0, 3), (3, 6), (3, 6)]  # 3 + 3 > 5 elements: recomputed, not kept


def test_the_per_point_path_assembles_the_first_layer_only_where_its_fan_in_pays():
    from lecturelib.landscape.precompute import FAN_IN_PER_DIRECTION, first_layer_pays

    assert first_layer_pays(nn.Linear(2 * FAN_IN_PER_DIRECTION, 3), 2)
    assert not first_layer_pays(nn.Linear(2 * FAN_IN_PER_DIRECTION - 1, 3), 2)
    assert not first_layer_pays(nn.Conv2d(1, 16, 3), 2)  # fan-in 9
    assert first_layer_pays(nn.Conv2d(2, 16, 3), 2)  # fan-in 18
