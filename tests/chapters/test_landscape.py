"""The loss-landscape chapter: its runs against the training they replace (seeded train.fit), its
figures, its exercise checker against Li et al.'s normalisation, and its widget."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lecturelib import landscape as L  # noqa: E402
from lecturelib import params  # noqa: E402
from lecturelib.data import DataSplit  # noqa: E402
from lecturelib.device import seed_everything  # noqa: E402
from lecturelib.experiments import landscape as runs  # noqa: E402
from lecturelib.models import MLP  # noqa: E402
from lecturelib.plotting import landscape as LP  # noqa: E402
from lecturelib.train import fit  # noqa: E402


def _split(n, d, classes=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    y = torch.randint(0, classes, (n,), generator=g) if classes else torch.sin(3 * X[:, :1])
    cut = 3 * n // 4
    return DataSplit(X[:cut], y[:cut], X[cut:], y[cut:], "toy")


def _mlp(seed=0, widths=(3, 6, 5, 4)):
    torch.manual_seed(seed)
    return MLP(list(widths), "leaky_relu").double()


def _classification(n=40, d=3, k=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randint(0, k, (n,), generator=g)


def _same_parameters(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


# ------------------------------------------------------------------------------- the runs

def test_tanh_lecture_network_is_the_lecture_recipe_with_tanh_and_is_cached():
    split = _split(16, 1)
    run = runs.train_tanh_lecture_network(split)
    # the written-out recipe of experiments.lecture_network, with tanh instead of LeakyReLU
    seed_everything(0)
    reference = MLP([1, 5, 5, 5, 1, 1], "tanh")
    history = fit(reference, split, optimizer="adam", lr=0.01, epochs=3000, eval_every=500, seed=0, device="cpu")
    assert params.fingerprint(run.model) == params.fingerprint(reference) and not run.from_cache
    assert run.history.train_loss == history.train_loss and run.model.activation == "tanh"
    assert sum(p.numel() for p in run.model.parameters()) == 78
    assert runs.train_tanh_lecture_network(split).from_cache
    with pytest.raises(ValueError, match="split"):
        runs.train_tanh_lecture_network(_split(16, 2))
    with pytest.raises(TypeError, match="split"):
        runs.train_tanh_lecture_network("digits")


def test_digits_net_records_the_parameter_norm_as_it_trains_from_its_seed():
    split = _split(48, 64, classes=10)
    run = runs.train_digits_net(split, weight_decay=1e-3, batch_size=12, epochs=10, seed=3)
    seed_everything(3)  # the seed draws the initialisation and orders the minibatches
    reference = MLP([64, 64, 10], "relu")
    history = fit(reference, split, lr=0.1, momentum=0.9, weight_decay=1e-3, batch_size=12, epochs=10, eval_every=1,
                  seed=3, callback=lambda model, epoch: {"norm": params.norm(model)})
    assert _same_parameters(run.model, reference)
    assert run.history.extras["norm"] == history.extras["norm"] and len(history.extras["norm"]) == 11
    assert runs.record_parameter_norm(reference, 10) == {"norm": params.norm(reference)}
    other = runs.train_digits_net(split, weight_decay=1e-3, batch_size=12, epochs=10, seed=4)
    assert other.history.extras["norm"][0] != run.history.extras["norm"][0]  # another initialisation
    with pytest.raises(ValueError, match="epochs"):
        runs.train_digits_net(split, 0.0, 12, epochs=5)
    with pytest.raises(ValueError, match="weight_decay"):
        runs.train_digits_net(split, -1e-3, 12, epochs=10)
    with pytest.raises(ValueError, match="batch_size"):
        runs.train_digits_net(split, 0.0, 0, epochs=10)


@pytest.mark.parametrize("residual, norm", [(False, "batch"), (True, "batch"), (True, None)])
def test_deep_net_is_the_seeded_adam_run(residual, norm):
    split = _split(40, 64, classes=10)
    run = runs.train_deep_net(split, hidden_layers=3, width=8, residual=residual, seed=2, norm=norm, epochs=7)
    seed_everything(2)
    reference = MLP([64, 8, 8, 8, 10], "leaky_relu", residual=residual, norm=norm)
    fit(reference, split, optimizer="adam", lr=5e-3, epochs=7, batch_size=256, eval_every=7, seed=2)
    assert _same_parameters(run.model, reference) and reference.residual == run.model.residual
    if norm == "batch":
        assert torch.equal(run.model.norms[0].running_var, reference.norms[0].running_var)
    with pytest.raises(ValueError, match="norm"):
        runs.train_deep_net(split, 3, 8, residual, norm="layer")
    with pytest.raises(TypeError, match="residual"):
        runs.train_deep_net(split, 3, 8, 1)
    with pytest.raises(ValueError, match="epochs"):
        runs.train_deep_net(split, 3, 8, residual, epochs=0)


# ------------------------------------------------------------------------------- summaries of slices

def test_valley_width_of_a_parabola_is_its_closed_form():
    alphas = np.linspace(-1.0, 1.0, 201)  # step 0.01
    for rise in (0.04, 0.2):
        result = L.LandscapeResult(alphas, None, 3.0 * alphas ** 2)
        # 3 a^2 < rise  <=>  |a| < sqrt(rise / 3): the widths are the last grid points inside
        expected = alphas[3.0 * alphas ** 2 < rise].max()
        np.testing.assert_allclose(runs.valley_width(result, rise), (expected, expected), atol=1e-12)
    # around another centre the two sides differ; a side reaching the grid's end is cut there
    shifted = L.LandscapeResult(alphas, None, (alphas - 0.9) ** 2)
    left, right = runs.valley_width(shifted, 0.0125, centre=0.9)  # |a - 0.9| < 0.1118
    assert left == pytest.approx(0.11) and right == pytest.approx(0.1)
    assert runs.valley_width(shifted, 10.0, centre=0.9) == pytest.approx((1.9, 0.1))
    # a barrier stops the valley even if the loss falls again behind it
    bumpy = L.LandscapeResult(alphas, None, np.where(np.abs(alphas - 0.5) < 0.05, 5.0, 0.0))
    assert runs.valley_width(bumpy, 1.0) == pytest.approx((1.0, 0.45))
    with pytest.raises(ValueError, match="rise"):
        runs.valley_width(shifted, 0.0)
    with pytest.raises(ValueError, match="1-D slice"):
        runs.valley_width(L.LandscapeResult(alphas, alphas, np.zeros((201, 201))), 0.1)
    with pytest.raises(TypeError, match="result"):
        runs.valley_width(alphas, 0.1)


def test_grid_local_minima_counts_basins():
    axis = np.linspace(-1.0, 1.0, 21)
    a, b = np.meshgrid(axis, axis, indexing="ij")
    bowl = L.LandscapeResult(axis, axis, a ** 2 + 2 * b ** 2)
    assert runs.grid_local_minima(bowl) == 1
    egg_crate = L.LandscapeResult(axis, axis, -np.cos(2 * np.pi * a) * np.cos(2 * np.pi * b))  # period 1
    # minima at (0, 0) and at (+-0.5, +-0.5) inside the square's interior: 1 + 4
    assert runs.grid_local_minima(egg_crate) == 5
    flat = L.LandscapeResult(axis, axis, np.zeros((21, 21)))
    assert runs.grid_local_minima(flat) == 0  # ties are not strict minima
    with pytest.raises(ValueError, match="2-D slice"):
        runs.grid_local_minima(L.LandscapeResult(axis, None, axis ** 2))
    with pytest.raises(ValueError, match="3 x 3"):
        runs.grid_local_minima(L.LandscapeResult(axis[:2], axis, np.zeros((2, 21))))


def test_raw_directions_are_standard_gaussians_in_every_parameter():
    model = _mlp()
    first, second = runs.raw_directions(model, count=2, seed=5)
    generator = torch.Generator().manual_seed(5)  # the written-out draw: one stream, parameter order
    for direction in (first, second):
        assert list(direction) == [name for name, _ in model.named_parameters()]
        for name, p in model.named_parameters():
            expected = torch.randn(p.shape, generator=generator, dtype=torch.float64)
            assert torch.equal(direction[name], expected) and direction[name].dtype == p.dtype
    big = runs.raw_directions(MLP([64, 64, 10], "relu"), count=1, seed=0)[0]
    values = torch.cat([d.flatten() for d in big.values()]).float()
    assert abs(values.mean().item()) < 0.05 and abs(values.std().item() - 1.0) < 0.05
    assert big["layers.0.bias"].abs().sum() > 0  # biases move too
    with pytest.raises(ValueError, match="count"):
        runs.raw_directions(model, count=0)
    with pytest.raises(TypeError, match="model"):
        runs.raw_directions("net")


def test_seed_summary_is_mean_and_half_range_in_seed_order():
    values = {("a", 1, 0): 1.0, ("a", 1, 1): 4.0, ("a", 1, 2): 2.5, ("b", 1, 0): 9.0}
    array, text = runs.seed_summary(values, ("a", 1), (2, 0, 1))
    np.testing.assert_array_equal(array, [2.5, 1.0, 4.0])
    assert text == "2.5 ± 1.5"
    assert runs.seed_summary(values, ("b", 1), [0])[1] == "9 ± 0"
    with pytest.raises(ValueError, match="no entry"):
        runs.seed_summary(values, ("b", 1), (0, 1))
    with pytest.raises(ValueError, match="seeds"):
        runs.seed_summary(values, ("a", 1), ())
    with pytest.raises(TypeError, match="config"):
        runs.seed_summary(values, "a", (0,))


# ------------------------------------------------------------------------------- figures

def test_plots_put_alpha_on_the_x_axis():
    import matplotlib.pyplot as plt

    model = _mlp()
    X, y = _classification()
    result = L.plane(model, X, y, steps=(6, 4), span=((-2.0, 2.0), (-0.5, 0.5)), device="cpu")
    ax = LP.contour(result)
    assert ax.get_xlim()[1] == pytest.approx(2.0) and ax.get_ylim()[1] == pytest.approx(0.5)
    ax = LP.filled_contour(result, log=True)
    assert ax.get_xlim()[0] == pytest.approx(-2.0)
    LP.surface(result, clip=5.0)
    path = L.interpolate(model, _mlp(1), X, y, device="cpu")
    ax, twin = LP.curves({"train": path, "test": path})
    assert twin is not None and twin.get_ylabel() == "accuracy (%)"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), path.loss)
    plt.close("all")
    with pytest.raises(ValueError, match="1-D slice"):
        LP.contour(path)
    with pytest.raises(ValueError, match="count"):
        LP.contour_levels(result.loss, count=1)
    with pytest.raises(TypeError, match="count"):
        LP.contour_levels(np.zeros(4), count=3.0)


def test_contour_levels_span_the_minimum_to_the_95th_percentile():
    values = np.arange(101.0)
    levels = LP.contour_levels(values, count=5)
    np.testing.assert_allclose(levels, np.linspace(0.0, 95.0, 6)[1:])
    np.testing.assert_allclose(LP.contour_levels(values, count=5, origin_value=45.0), np.linspace(45.0, 95.0, 6)[1:])


# ------------------------------------------------------------------------------- exercise and widget

def test_filter_normalize_checker_accepts_reference_and_rejects_wrong_answers():
    from lecturelib.exercises.landscape import check_filter_normalize, reference_filter_normalize

    assert check_filter_normalize(reference_filter_normalize).passed
    # the reference agrees with the library's whole-model normalisation
    model = _mlp()
    raw = L.random_direction(model, norm=None, ignore=None, generator=0)
    weights = dict(model.named_parameters())
    normalised = L.normalize_direction(raw, weights)
    for name, d in raw.items():
        torch.testing.assert_close(reference_filter_normalize(d, weights[name].detach()), normalised[name])
    wrong = check_filter_normalize(lambda d, w: d * w.norm() / d.norm())  # layer-wise, not filter-wise
    assert not wrong.passed and "Rescale each row" in wrong.message
    assert not check_filter_normalize(lambda d, w: None).passed
    with pytest.raises(TypeError, match="candidate"):
        check_filter_normalize(3)


def test_landscape_widget_builds_and_redraws():
    import ipywidgets
    import matplotlib.pyplot as plt

    from lecturelib.widgets.landscape import landscape_explorer

    X, y = _classification()
    box = landscape_explorer({"a": _mlp(0), "b": _mlp(1)}, X, y, steps=5)
    assert isinstance(box, ipywidgets.VBox)
    controls = box.children[-2].children
    controls[0].value = "b"  # redraws without error
    plt.close("all")
    with pytest.raises(ValueError, match="steps"):
        landscape_explorer({"a": _mlp(0)}, X, y, steps=2)
    with pytest.raises(ValueError, match="models"):
        landscape_explorer({}, X, y)
