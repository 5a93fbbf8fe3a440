"""Every house-style figure's smallest text is at least 9 CSS px tall in the book's column.

The sizes come from :mod:`lecturelib.plotting.readability`, which draws each figure as the
notebook stores it; the layouts are the ones the chapters use (one panel, a row of two or
three, a 2 x 3 grid, 3-D surfaces side by side, a row of layer histograms).
"""

import io
import types

import matplotlib
import matplotlib.image

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lecturelib import data, optim, plotting, train  # noqa: E402
from lecturelib.connectivity import PathProfile  # noqa: E402
from lecturelib.landscape import LandscapeResult  # noqa: E402
from lecturelib.plotting import fits, gradients, landscape, layers, paths, readability  # noqa: E402
from lecturelib.plotting import convexification, regularisation, topology, trajectories  # noqa: E402

MIN_PX = 9.0


def _plane(n=21):
    alphas = np.linspace(-1, 1, n)
    a, b = np.meshgrid(alphas, alphas, indexing="ij")
    return LandscapeResult(alphas, alphas.copy(), 1.1 + a ** 2 + 3 * b ** 2 + np.sin(3 * a))


def _line(accuracy=True):
    alphas = np.linspace(-1, 1, 41)
    return LandscapeResult(alphas, None, 0.1 + alphas ** 2, 1 - alphas ** 2 / 2 if accuracy else None)


def _history():
    history = train.History()
    for epoch in range(6):
        history.epoch.append(epoch)
        history.train_loss.append(1.0 / (epoch + 1))
        history.test_loss.append(1.2 / (epoch + 1))
    return history


def _row_of_contours():
    fig, axes = plotting.subplots(1, 3)
    for ax in axes:
        landscape.contour(_plane(), ax=ax, title="a wide minimum")
    return fig


def _grid_of_contours():
    fig, axes = plotting.subplots(2, 3, width=12.0, height=7.0)
    for ax in axes.flat:
        landscape.contour(_plane(), ax=ax, log=True, fmt="%.1f", title="tanh, directions 0")
    fig.suptitle("LeakyReLU climbs far higher away from the minimum")
    return fig


def _filled_pair():
    fig, axes = plotting.subplots(1, 2)
    for ax in axes:
        landscape.filled_contour(_plane(), ax=ax, log=True, title="filter-normalised")
    return fig


def _one_surface():
    return landscape.surface(_plane(), log=True, title="tanh: max loss 15.3").figure


def _surfaces_side_by_side():
    plotting.use_house_style()
    fig = plt.figure(figsize=(9.0, 3.8))
    for i in range(2):
        landscape.surface(_plane(), ax=fig.add_subplot(1, 2, i + 1, projection="3d"), log=True, zlabel="MSE",
                          title="leaky_relu: max loss 150")
    return fig


def _curves():
    ax, _ = landscape.curves({"train": _line(), "test": _line()}, title="the minimum is flat")
    return ax.figure


def _histories():
    fig, axes = plotting.subplots(1, 2)
    plotting.plot_history(_history(), axes[0], label_prefix="plain")
    plotting.plot_history(_history(), axes[1], label_prefix="residual")
    return fig


def _fits_row():
    split = data.regression_1d()
    grid = torch.linspace(-1.6, 1.6, 50).reshape(-1, 1)
    fig, axes = plotting.subplots(1, 3, sharey=True)
    for k, ax in enumerate(axes):
        fits.draw_fit(ax, grid, torch.sin(3 * grid)[None].repeat(3, 1, 1), split, title=f"depth {2 ** k}",
                      kinks=torch.tensor([-0.5, 0.5]), legend=k == 0)
    return fig


def _gradient_norms():
    fig, ax = plotting.subplots()
    gradients.draw_gradient_norms(ax, torch.logspace(-8, 0, 12), bounds=torch.logspace(-6, 1, 12), label="sigmoid")
    plotting.label(ax, "layer", "gradient norm", "Gradients vanish towards the input")
    ax.legend()
    return fig


def _layer_histograms():
    records = [types.SimpleNamespace(layer=k, activations=torch.randn(500) / k, std=1 / k) for k in range(1, 6)]
    fig, axes = plotting.subplots(1, 5, width=10, height=2.4, sharex=True)
    layers.plot_layer_histograms(axes, records)
    for ax in axes:
        ax.set_xlabel("activation")
    return fig


def _layer_trajectories():
    fig, ax = plotting.subplots()
    steps = np.arange(10)
    layers.plot_layer_trajectories(ax, steps, np.random.rand(10, 4), np.random.rand(10, 4), title="layer 4 saturates")
    return fig


def _paths():
    t = np.linspace(0, 1, 21)
    profiles = {"line": PathProfile("line", t, 1 + np.sin(np.pi * t), None),
                "Bezier curve": PathProfile("bezier", t, 1 + 0.1 * t, None)}
    fig, (left, right) = plotting.subplots(1, 2)
    paths.plot_profiles(left, profiles, marker_t=0.5)
    plotting.label(left, "t (position on the path)", "loss", "The curve has no barrier")
    coords = np.stack([t, np.sin(np.pi * t)], 1)
    paths.plot_plane(right, _plane(), {"line": coords}, points={"$w_1$": (0.0, 0.0)}, title="the plane")
    return fig


def _trajectories_pair():
    function = optim.rosenbrock()
    points = np.stack([np.linspace(-1.5, 1, 20), np.linspace(2, 1, 20)], 1)
    fig, axes = plotting.subplots(1, 2)
    trajectories.plot_trajectories(axes[0], function, {"SGD": points, "Adam": points[::-1]}, title="Adam gets there")
    trajectories.plot_values(axes[1], {"SGD": points}, function, title="the gap falls")
    return fig


def _basins():
    function = optim.basins_1d()
    starts = torch.linspace(-2.4, 2.9, 20)[:, None]
    fig, ax = plotting.subplots()
    trajectories.plot_basins(ax, function, starts, np.zeros(20, dtype=int), title="every start reaches a minimum")
    return fig


def _sublevel_sets():
    x = np.linspace(-2, 2, 41)
    values = (x[:, None] ** 2 - 1) ** 2 + x[None, :] ** 2
    labels = (values < 0.5).astype(int) * (1 + (x[:, None] > 0))
    fig, axes = plotting.subplots(1, 3)
    for ax in axes[:2]:
        topology.draw_sublevel_set(ax, values, labels, 2, 0.5, (x, x))
    topology.draw_component_counts(axes[2], np.linspace(0, 2, 20), np.r_[np.zeros(2), np.full(18, 2)].astype(int),
                                   critical={"minima": 0.0, "saddle": 1.0}, title="two components below 1")
    return fig


def _regularised():
    split = data.regression_1d()
    grid = np.linspace(-1.6, 1.6, 50)
    result = {"grid": grid, "prediction": np.sin(3 * grid), "weight_norm": 1.0, "train_mse": 0.1, "test_mse": 0.2}
    fig, axes = plotting.subplots(1, 2)
    regularisation.draw_regularised_fit(axes[0], result, split, reference=result, title="L2 smooths the fit")
    regularisation.draw_weight_norms(axes[1], [0, 1e-4, 1e-3, 1e-2], [4, 3, 2, 1], selected=2, reference=4.0,
                                     strength_name="λ", title="the norm falls")
    return fig


def _convexification():
    fig, axes = plotting.subplots(1, 3)
    convexification.draw_rank_and_ball(axes[0])
    convexification.draw_objectives(axes[1], [np.exp(-np.arange(50) / 10), np.exp(-np.arange(50) / 20)],
                                    names=["step 1/L", "step 1/(2L)"], best=0.0)
    plotting.label(axes[1], "step", "gap to the best objective", "Projected gradient converges")
    convexification.draw_singular_values(axes[2], [3.0, 1.0, 0.2])
    return fig


def _radius_sweep():
    fig, pair = plotting.subplots(1, 2)
    convexification.draw_radius_sweep(pair, [1, 2, 4], [np.array([1.0]), np.array([2.0, 0.5]), np.array([3, 1, 0.4])],
                                      [0.3, 0.2, 0.1], [0.35, 0.25, 0.2], bound=3.0)
    return fig


LAYOUTS = [_row_of_contours, _grid_of_contours, _filled_pair, _one_surface, _surfaces_side_by_side, _curves,
           _histories, _fits_row, _gradient_norms, _layer_histograms, _layer_trajectories, _paths,
           _trajectories_pair, _basins, _sublevel_sets, _regularised, _convexification, _radius_sweep]


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda f: f.__name__.strip("_"))
def test_smallest_text_is_legible_at_the_column_width(layout):
    plotting.use_house_style()
    fig = layout()
    try:
        smallest = readability.smallest_text(fig)
        assert smallest.css_px >= MIN_PX, f"{smallest.text!r} is {smallest.css_px:.1f} px at the column width"
        assert readability.overlapping_texts(fig) == []
    finally:
        plt.close(fig)


def test_subplots_caps_the_width_and_keeps_the_aspect():
    fig, _ = plotting.subplots(2, 5, width=15.0, height=6.0)
    assert tuple(fig.get_size_inches()) == pytest.approx((plotting.MAX_WIDTH, 6.0 * plotting.MAX_WIDTH / 15.0))
    plt.close(fig)
    fig, _ = plotting.subplots(1, 4)
    assert tuple(fig.get_size_inches()) == pytest.approx((plotting.MAX_WIDTH, 3.2))
    plt.close(fig)


def test_sizes_follow_the_column_formula_on_a_wide_and_a_narrow_figure():
    # A 12-inch figure at 100 dpi (about 1200 px) is shrunk to the column; a 4-inch one is not.
    for width, shrinks in ((12.0, True), (4.0, False)):
        fig = plt.figure(figsize=(width, 2.0), dpi=100)
        fig.text(0.01, 0.5, "eleven points", fontsize=11)
        fig.text(0.99, 0.5, "six points", fontsize=6, ha="right")
        fig.text(0.5, 0.5, "hidden", fontsize=3, visible=False)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        png_width = readability.png_width(buffer.getvalue())
        sizes = readability.text_sizes(fig, column_px=688)
        plt.close(fig)
        assert [s.text for s in sizes] == ["six points", "eleven points"]  # the invisible text is not counted
        scale = 688 / png_width if shrinks else 1.0
        assert (png_width > 688) == shrinks
        assert sizes[0].css_px == pytest.approx(6 * 100 / 72 * scale, rel=1e-12)
        assert sizes[1].css_px == pytest.approx(11 * 100 / 72 * scale, rel=1e-12)


def test_only_drawn_texts_are_measured():
    fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
    ax.plot([0, 1], [0, 1])
    ax.set_xlim(0.05, 0.95)  # matplotlib keeps tick objects at 0 and 1, outside the view, undrawn
    ax.tick_params(labelsize=12)
    ax.set_title("title", fontsize=14)
    ax.set_xlabel("")  # empty texts are not drawn
    sizes = readability.text_sizes(fig)
    drawn = [label.get_text() for axis, (low, high) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim()))
             for at, label in zip(axis.get_majorticklocs(), axis.get_majorticklabels()) if low <= at <= high]
    assert len(drawn) < len(ax.get_xticklabels()) + len(ax.get_yticklabels())  # some ticks lie outside
    plt.close(fig)
    assert sorted(s.text for s in sizes) == sorted(drawn + ["title"])
    assert {s.points for s in sizes} == {12.0, 14.0}


def test_overlapping_titles_are_found_and_contour_labels_left_out():
    fig, axes = plotting.subplots(1, 3)
    for ax in axes:
        ax.plot([0, 1], [0, 1])
    axes[0].set_title("Sigmoid and tanh squash; the ReLU family grows")  # wider than its panel
    axes[1].set_title("Sigmoid's slope never exceeds 0.25")
    assert readability.overlapping_texts(fig) == [("Sigmoid and tanh squash; the ReLU family grows",
                                                   "Sigmoid's slope never exceeds 0.25")]
    axes[0].set_title("Sigmoid and tanh squash")
    assert readability.overlapping_texts(fig) == []
    plt.close(fig)
    fig, ax = plotting.subplots()
    x = np.linspace(-1, 1, 41)
    lines = ax.contour(x, x, x[None] ** 2 + x[:, None] ** 2, levels=40)
    labels = ax.clabel(lines, fontsize=10)  # forty labels on crowded rings: some overlap, none counted
    assert len(labels) > 10 and readability.overlapping_texts(fig) == []
    plt.close(fig)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="png"):
        readability.png_width(b"GIF89a" + bytes(30))
    with pytest.raises(TypeError, match="png"):
        readability.png_width("not bytes")
    with pytest.raises(TypeError, match="fig"):
        readability.text_sizes(plt.gca())
    with pytest.raises(ValueError, match="column_px"):
        readability.displayed_px(10, 100, 700, column_px=0)
    with pytest.raises(ValueError, match="tolerance_px"):
        readability.overlapping_texts(plt.figure(), tolerance_px=-1)
    empty = plt.figure()
    with pytest.raises(ValueError, match="no text"):
        readability.smallest_text(empty)
    plt.close("all")


def test_stored_figures_are_opaque_so_the_dark_theme_keeps_them_readable():
    # The theme's dark mode puts images on white and dims them (filter: brightness(0.8)); a figure
    # with a transparent background would show its black text on the dark page instead.
    from IPython.core.pylabtools import print_figure

    fig = _histories()
    rgba = matplotlib.image.imread(io.BytesIO(print_figure(fig, "png")), format="png")  # what a notebook stores
    plt.close(fig)
    assert rgba.shape[2] == 4 and rgba[..., 3].min() == 1.0
    assert matplotlib.rcParams["figure.facecolor"] == "white"
