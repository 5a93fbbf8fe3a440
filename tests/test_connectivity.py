"""lecturelib.connectivity against the curve formulas of Garipov et al. (2018), direct float64
evaluation of the network at phi(t), finite differences and Gram-Schmidt geometry."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lecturelib import connectivity as cn
from lecturelib import params
from lecturelib.data import DataSplit
from lecturelib.models import MLP
from lecturelib.train import fit


def small_net(seed):
    torch.manual_seed(seed)
    return MLP([3, 5, 4], "tanh").double()


@pytest.fixture
def nets():
    return small_net(1), small_net(2)


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(16, 3, generator=generator, dtype=torch.float64), torch.randint(0, 4, (16,), generator=generator)


def perturb_bend(curve, seed=3):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in curve.bend:
            p.add_(torch.randn(p.shape, generator=generator, dtype=p.dtype))


def flat(point):
    return torch.cat([v.reshape(-1) for v in point.values()])


@pytest.mark.parametrize("kind", cn.CURVE_KINDS)
def test_curve_endpoints_are_the_two_networks_exactly(nets, kind):
    curve = cn.Curve(*nets, kind=kind)
    if kind != "line":
        perturb_bend(curve)
    for t, model in ((0.0, nets[0]), (1.0, nets[1])):
        point = curve.point(t)
        for name, p in model.named_parameters():
            assert torch.equal(point[name], p.detach()), (kind, t, name)


def test_coefficients_match_the_formulas_and_sum_to_one():
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    c1, cb, c2 = cn.curve_coefficients("bezier", t)
    torch.testing.assert_close(c1, (1 - t) ** 2)
    torch.testing.assert_close(cb, 2 * t * (1 - t))
    torch.testing.assert_close(c2, t ** 2)
    for kind in cn.CURVE_KINDS:
        total = sum(cn.curve_coefficients(kind, t))
        torch.testing.assert_close(total, torch.ones_like(t), rtol=0, atol=1e-15)
    assert [float(c) for c in cn.curve_coefficients("polychain", 0.5)] == [0.0, 1.0, 0.0]


def test_bezier_point_matches_the_formula(nets):
    curve = cn.Curve(*nets, kind="bezier")
    perturb_bend(curve)
    start, end = curve.endpoints()
    bend = curve.bend_point()
    t = 0.3
    expected = (1 - t) ** 2 * flat(start) + 2 * t * (1 - t) * flat(bend) + t ** 2 * flat(end)
    torch.testing.assert_close(flat(curve.point(t)), expected, rtol=1e-14, atol=1e-14)


def test_untrained_curve_is_the_straight_line(nets, batch):
    line = cn.Curve(*nets, kind="line")
    for kind in ("bezier", "polychain"):
        curve = cn.Curve(*nets, kind=kind)
        for t in (0.1, 0.5, 0.8):
            torch.testing.assert_close(flat(curve.point(t)), flat(line.point(t)), rtol=1e-14, atol=1e-14)


def test_polychain_is_piecewise_linear_through_the_bend(nets):
    curve = cn.Curve(*nets, kind="polychain")
    perturb_bend(curve)
    start, end = curve.endpoints()
    bend = flat(curve.bend_point()).detach()
    torch.testing.assert_close(flat(curve.point(0.5)).detach(), bend, rtol=0, atol=0)
    for t in (0.1, 0.25, 0.4):  # first half: the segment w1 -> bend, at fraction 2t
        torch.testing.assert_close(flat(curve.point(t)).detach(), (1 - 2 * t) * flat(start) + 2 * t * bend,
                                   rtol=1e-14, atol=1e-14)
    for t in (0.6, 0.75, 0.95):  # second half: bend -> w2, at fraction 2t - 1
        s = 2 * t - 1
        torch.testing.assert_close(flat(curve.point(t)).detach(), (1 - s) * bend + s * flat(end),
                                   rtol=1e-14, atol=1e-14)
    # second differences vanish on each half, not across the kink
    points = [flat(curve.point(t)).detach() for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)]
    assert torch.allclose(points[0] - 2 * points[1] + points[2], torch.zeros_like(points[0]), atol=1e-14)
    assert (points[3] - 2 * points[4] + points[5]).abs().max() > 1e-3


def test_forward_equals_the_network_loaded_with_the_curve_point(nets, batch):
    X, _ = batch
    curve = cn.Curve(*nets, kind="bezier")
    perturb_bend(curve)
    model = curve.model_at(0.37)
    torch.testing.assert_close(curve(X, 0.37), model(X), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("kind", ["bezier", "polychain"])
def test_gradient_wrt_bend_is_chain_rule_of_the_network_gradient(nets, batch, kind):
    X, y = batch
    curve = cn.Curve(*nets, kind=kind)
    perturb_bend(curve)
    t = 0.3
    loss = F.cross_entropy(curve(X, t), y)
    grads = torch.autograd.grad(loss, list(curve.bend))
    # reference: d/dtheta L(phi(t)) = c_theta(t) * grad_w L(w) at w = phi(t), from the plain network
    model = curve.model_at(t)
    reference = torch.autograd.grad(F.cross_entropy(model(X), y), list(model.parameters()))
    coefficient = float(cn.curve_coefficients(kind, t)[1])
    for g, r in zip(grads, reference):
        torch.testing.assert_close(g, coefficient * r, rtol=1e-12, atol=1e-14)


def test_gradient_wrt_bend_matches_finite_differences(nets, batch):
    X, y = batch
    curve = cn.Curve(*nets, kind="bezier")
    perturb_bend(curve)
    t = 0.55
    loss = F.cross_entropy(curve(X, t), y)
    grad = torch.autograd.grad(loss, [curve.bend[0]])[0]
    h = 1e-6
    for index in [(0, 0), (2, 1), (4, 2)]:
        with torch.no_grad():
            curve.bend[0][index] += h
            up = float(F.cross_entropy(curve(X, t), y))
            curve.bend[0][index] -= 2 * h
            down = float(F.cross_entropy(curve(X, t), y))
            curve.bend[0][index] += h
        assert abs((up - down) / (2 * h) - float(grad[index])) < 1e-8


def test_training_draws_one_t_per_call_and_evaluation_uses_t_eval(nets, batch):
    X, _ = batch
    curve = cn.Curve(*nets, kind="bezier", seed=5, t_eval=0.25)
    perturb_bend(curve)
    curve.eval()
    torch.testing.assert_close(curve(X), curve(X, 0.25))
    curve.train()
    reference = torch.Generator().manual_seed(5)
    expected_t = [float(torch.rand((), generator=reference, dtype=torch.float64)) for _ in range(2)]
    out = curve(X)
    torch.testing.assert_close(out, curve(X, expected_t[0]))
    assert not torch.allclose(out, curve(X, expected_t[1]))


def test_fit_trains_only_the_bend_and_lowers_the_midpoint_loss():
    torch.manual_seed(0)
    X = torch.randn(64, 3, dtype=torch.float64)
    y = (X[:, 0] > 0).long()
    split = DataSplit(X, y, X, y, "toy")
    ends = []
    for seed in (1, 2):
        model = small_net(seed)
        fit(model, split, lr=0.5, epochs=30, seed=seed, eval_every=30)
        ends.append(model)
    curve = cn.Curve(*ends, kind="bezier", seed=0)
    before = cn.path_profile(curve, X, y, t=[0.5]).loss[0]
    starts = [b.detach().clone() for b in curve.endpoints()[0].values()]
    history = fit(curve, split, optimizer="adam", lr=0.01, epochs=20, batch_size=16, seed=0, eval_every=20)
    after = cn.path_profile(curve, X, y, t=[0.5]).loss[0]
    assert after < before
    assert history.train_loss[0] == pytest.approx(before, rel=1e-12)
    for s, b in zip(starts, curve.endpoints()[0].values()):
        assert torch.equal(s, b)


def test_path_profile_matches_direct_evaluation(nets, batch):
    X, y = batch
    curve = cn.Curve(*nets, kind="polychain")
    perturb_bend(curve)
    profile = cn.path_profile(curve, X, y, t=[0.0, 0.3, 1.0], batch_size=5)
    for i, t in enumerate((0.0, 0.3, 1.0)):
        out = curve.model_at(t)(X).detach()
        assert profile.loss[i] == pytest.approx(float(F.cross_entropy(out, y)), rel=1e-12)
        assert profile.accuracy[i] == pytest.approx(float((out.argmax(1) == y).double().mean()))
    np.testing.assert_allclose(profile.error, 1 - profile.accuracy)


def test_barrier_height():
    assert cn.barrier_height(np.array([0.1, 0.5, 0.2])) == pytest.approx(0.3)
    assert cn.barrier_height(np.array([0.1, 0.05, 0.2])) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="values"):
        cn.barrier_height(np.array([1.0]))


def test_plane_basis_is_orthonormal_and_reconstructs_curve_points(nets):
    for kind in ("bezier", "polychain"):
        curve = cn.Curve(*nets, kind=kind)
        perturb_bend(curve)
        start, end = curve.endpoints()
        u, v = cn.plane_basis(start, end, curve.bend_point())
        fu, fv = flat(u), flat(v)
        gram = torch.stack([torch.stack([fu @ fu, fu @ fv]), torch.stack([fv @ fu, fv @ fv])])
        torch.testing.assert_close(gram, torch.eye(2, dtype=torch.float64), rtol=0, atol=1e-12)
        for t in (0.0, 0.2, 0.5, 0.9, 1.0):
            point = {k: p.detach() for k, p in curve.point(t).items()}
            a, b = cn.plane_coordinates(point, start, (u, v))
            rebuilt = cn.plane_point(start, (u, v), a, b)
            torch.testing.assert_close(flat(rebuilt), flat(point), rtol=0, atol=1e-12)
        coords = cn.curve_plane_coordinates(curve, t=[0.0, 1.0])
        distance = float((flat(end) - flat(start)).norm())
        np.testing.assert_allclose(coords, [[0.0, 0.0], [distance, 0.0]], atol=1e-12)


def test_plane_coordinates_of_a_point_off_the_plane_are_its_projection(nets):
    curve = cn.Curve(*nets, kind="bezier")
    perturb_bend(curve)
    start, end = curve.endpoints()
    basis = cn.plane_basis(start, end, curve.bend_point())
    off = {k: v + 0.1 for k, v in start.items()}
    a, b = cn.plane_coordinates(off, start, basis)
    shift = torch.full_like(flat(start), 0.1)
    assert a == pytest.approx(float(shift @ flat(basis[0])), rel=1e-12)
    assert b == pytest.approx(float(shift @ flat(basis[1])), rel=1e-12)


def test_path_table_lists_every_path(nets, batch):
    X, y = batch
    line = cn.Curve(*nets, kind="line")
    profile = cn.path_profile(line, X, y, t=[0.0, 0.5, 1.0])
    table = cn.path_table({"line": profile}, {"line": profile})
    assert table.splitlines()[2].startswith("line")
    with pytest.raises(ValueError, match="same names"):
        cn.path_table({"line": profile}, {"other": profile})


# ------------------------------------------------------------------------------ bad inputs

def test_bad_inputs_raise_helpful_errors(nets, batch):
    X, y = batch
    with pytest.raises(ValueError, match="kind must be one of"):
        cn.Curve(*nets, kind="spline")
    with pytest.raises(TypeError, match="start must be a torch.nn.Module"):
        cn.Curve("net", nets[1])
    with pytest.raises(ValueError, match="same architecture"):
        cn.Curve(nets[0], MLP([3, 6, 4], "tanh").double())
    with pytest.raises(ValueError, match="batch normalisation"):
        cn.Curve(MLP([3, 5, 4], norm="batch"), MLP([3, 5, 4], norm="batch"))
    with pytest.raises(ValueError, match="seed"):
        cn.Curve(*nets, seed=-1)
    with pytest.raises(ValueError, match="t_eval"):
        cn.Curve(*nets, t_eval=[0.1, 0.2])
    curve = cn.Curve(*nets, kind="bezier")
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]"):
        curve.point(1.5)
    with pytest.raises(ValueError, match="one t"):
        curve.point([0.1, 0.2])
    with pytest.raises(TypeError, match="t must be a number"):
        curve.point("half")
    with pytest.raises(ValueError, match="t must lie"):
        cn.curve_coefficients("line", float("nan"))
    with pytest.raises(ValueError, match="no bend"):
        cn.Curve(*nets, kind="line").bend_point()
    with pytest.raises(TypeError, match="curve must be"):
        cn.path_profile(nets[0], X, y)
    with pytest.raises(ValueError, match="same positive number"):
        cn.path_profile(curve, X, y[:3])
    with pytest.raises(ValueError, match="batch_size"):
        cn.path_profile(curve, X, y, batch_size=0)
    start, end = curve.endpoints()
    with pytest.raises(ValueError, match="collinear|on the line"):
        cn.plane_basis(start, end, curve.bend_point())  # untrained bend: the midpoint
    with pytest.raises(ValueError, match="same point"):
        cn.plane_basis(start, start, end)
    with pytest.raises(TypeError, match="bend must be"):
        cn.plane_basis(start, end, [1, 2])
    with pytest.raises(TypeError, match="basis must be a pair"):
        cn.plane_coordinates(start, start, None)
    with pytest.raises(TypeError, match="a must be a finite number"):
        cn.plane_point(start, (start, end), float("inf"), 0.0)
    with pytest.raises(ValueError, match="spans no plane"):
        cn.curve_plane_coordinates(cn.Curve(*nets, kind="line"))


def test_plane_functions_reject_mismatched_points(nets):
    start = params.copy_state(nets[0])
    other = params.copy_state(MLP([3, 6, 4], "tanh").double())
    with pytest.raises(ValueError, match="same shapes; 'layers.0.weight'"):
        cn.plane_basis(start, other, start)
    with pytest.raises(ValueError, match="same names"):
        cn.plane_coordinates({"w": torch.zeros(2)}, start, (start, start))


# ------------------------------------------------------------------ bad input gets a clear error

def test_path_profile_refuses_bad_labels_nan_inputs_and_mismatched_targets(nets, batch):
    X, y = batch
    curve = cn.Curve(*nets)
    bad = y.clone()
    bad[0] = 4  # the nets have 4 outputs
    with pytest.raises(ValueError, match=r"y holds labels in .*4 outputs.*\[0, 3\]"):
        cn.path_profile(curve, X, bad, t=[0.0, 1.0])
    with pytest.raises(ValueError, match="X holds"):
        cn.path_profile(curve, torch.full_like(X, float("nan")), y, t=[0.0])
    with pytest.raises(ValueError, match=r"y has shape \(16,\).*y\.reshape\(-1, 4\)"):
        cn.path_profile(curve, X, torch.zeros(16, dtype=torch.float64), t=[0.0])


@pytest.mark.parametrize("call, error, name", [
    (lambda nets: cn.Curve(*nets, seed="x"), TypeError, "seed"),
    (lambda nets: cn.Curve(*nets, seed=1.5), TypeError, "seed"),
    (lambda nets: cn.plane_basis(*cn.Curve(*nets).endpoints(), cn.Curve(*nets).bend_point(),
                                 min_angle=float("nan")), ValueError, "min_angle"),
    (lambda nets: cn.path_profile(cn.Curve(*nets), torch.zeros(2, 3, dtype=torch.float64), torch.zeros(2, dtype=torch.long),
                                  batch_size=2.0), TypeError, "batch_size"),
])
def test_numbers_are_checked_nan_safely(nets, call, error, name):
    with pytest.raises(error, match=name):
        call(nets)


def test_path_profile_runs_where_the_curve_is(nets, batch, monkeypatch):
    X, y = batch
    curve = cn.Curve(*nets, kind="bezier")
    perturb_bend(curve)
    expected = cn.path_profile(curve, X, y, t=[0.2, 0.7])
    # were the default device consulted, it would raise: LECTURELIB_DEVICE names a missing GPU
    monkeypatch.setenv("LECTURELIB_DEVICE", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    profile = cn.path_profile(curve, X, y, t=[0.2, 0.7])
    np.testing.assert_array_equal(profile.loss, expected.loss)
    assert profile.kind == "bezier" and curve.training  # the curve is left in the mode it was in
