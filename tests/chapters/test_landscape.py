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

def test_regression_net_is_the_seeded_adam_run_and_is_cached():
    split = _split(16, 1)
    run = runs.train_regression_net(split, "tanh")
    torch.manual_seed(0)
    reference = MLP([1, 5, 5, 5, 1, 1], "tanh")
    history = fit(reference, split, optimizer="adam", lr=0.01, epochs=1500, eval_every=500)
    assert params.fingerprint(run.model) == params.fingerprint(reference) and not run.from_cache
    assert run.history.train_loss == history.train_loss
    assert sum(p.numel() for p in run.model.parameters()) == 78
    assert runs.train_regression_net(split, "tanh").from_cache


def test_digits_net_records_the_parameter_norm_as_it_trains():
    split = _split(48, 64, classes=10)
    run = runs.train_digits_net(split, weight_decay=1e-3, batch_size=12, epochs=10)
    torch.manual_seed(0)
    reference = MLP([64, 64, 10], "relu")
    history = fit(reference, split, lr=0.1, momentum=0.9, weight_decay=1e-3, batch_size=12, epochs=10, eval_every=1,
                  callback=lambda model, epoch: {"norm": params.norm(model)})
    assert _same_parameters(run.model, reference)
    assert run.history.extras["norm"] == history.extras["norm"] and len(history.extras["norm"]) == 11
    assert runs.record_parameter_norm(reference, 10) == {"norm": params.norm(reference)}
    with pytest.raises(ValueError, match="epochs"):
        runs.train_digits_net(split, 0.0, 12, epochs=5)


@pytest.mark.parametrize("residual", [False, True])
def test_deep_net_is_the_seeded_adam_run(residual):
    split = _split(40, 64, classes=10)
    run = runs.train_deep_net(split, hidden_layers=3, width=8, residual=residual)
    torch.manual_seed(0)
    reference = MLP([64, 8, 8, 8, 10], "leaky_relu", residual=residual)
    fit(reference, split, optimizer="adam", lr=5e-3, epochs=10, batch_size=256, eval_every=10)
    assert _same_parameters(run.model, reference) and reference.residual == run.model.residual


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
