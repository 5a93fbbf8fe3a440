import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from lecturelib import data, models, plotting, train  # noqa: E402


def test_house_style_uses_the_colour_blind_safe_palette():
    plotting.use_house_style()
    cycle = [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]
    assert cycle[:3] == ["#0072B2", "#E69F00", "#009E73"]
    assert matplotlib.rcParams["image.cmap"] == "viridis"
    assert plotting.color_for(len(plotting.COLORS) + 1) == plotting.COLORS[1]


def test_subplots_label_and_history_plot():
    fig, axes = plotting.subplots(1, 2)
    assert len(axes) == 2 and tuple(fig.get_size_inches()) == (8.0, 3.2)
    plotting.label(axes[0], "epoch", "loss (MSE)", "Loss falls")
    assert axes[0].get_xlabel() == "epoch" and axes[0].get_title() == "Loss falls"
    history = train.fit(models.MLP([2, 4, 2]), data.toy_2d("moons"), epochs=3, device="cpu")
    ax = plotting.plot_history(history, axes[1], metric="accuracy")
    assert len(ax.get_lines()) == 2 and ax.get_ylabel() == "accuracy"
    plt.close(fig)


def test_bad_arguments_are_named():
    fig, ax = plotting.subplots()
    with pytest.raises(ValueError, match="xlabel and ylabel"):
        plotting.label(ax, "", "loss")
    with pytest.raises(ValueError, match="nrows"):
        plotting.subplots(0, 1)
    with pytest.raises(ValueError, match="metric"):
        plotting.plot_history(train.History(), ax, metric="f1")
    history = train.fit(models.MLP([1, 2, 1]), data.regression_1d(), epochs=1, device="cpu")
    with pytest.raises(ValueError, match="no accuracy"):
        plotting.plot_history(history, ax, metric="accuracy")
    with pytest.raises(TypeError, match="index"):
        plotting.color_for("red")
    plt.close(fig)


@pytest.mark.parametrize("kwargs, error, name", [
    ({"width": float("nan")}, ValueError, "width"),
    ({"height": -1.0}, ValueError, "height"),
    ({"nrows": 2.0}, TypeError, "nrows"),
])
def test_subplots_checks_its_numbers(kwargs, error, name):
    with pytest.raises(error, match=name):
        plotting.subplots(**kwargs)
