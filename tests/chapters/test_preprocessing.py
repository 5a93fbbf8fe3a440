"""The preprocessing chapter: its widget (lecturelib.widgets.preprocessing) and its exercise checker
against a whitening written out with torch.linalg.eigh."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402


def test_preprocessing_widget_builds_and_redraws_every_preprocessing():
    from lecturelib.data import PREPROCESSINGS
    from lecturelib.widgets.preprocessing import preprocessing_widget

    box = preprocessing_widget(max_steps=200)
    offset, stretch, angle, how = box.children[1].children
    assert list(how.options) == list(PREPROCESSINGS[1:]) and how.value == "standardised"
    for value in PREPROCESSINGS[1:]:
        how.value = value  # each redraw runs without error
    offset.value = 0.0
    with pytest.raises(ValueError, match="tol"):
        preprocessing_widget(tol=float("nan"))


def test_whitening_checker():
    from lecturelib.exercises import preprocessing as ex

    def whiten(X):
        centred = X - X.mean(0)
        values, vectors = torch.linalg.eigh(centred.T @ centred / len(X))
        return centred @ vectors / values.sqrt()

    assert ex.check_whitening(whiten).passed
    standardised = ex.check_whitening(lambda X: (X - X.mean(0)) / X.std(0, unbiased=False))
    assert not standardised.passed and "standardisation" in standardised.message
    uncentred = ex.check_whitening(lambda X: X)
    assert not uncentred.passed and "mean" in uncentred.message
    with pytest.raises(TypeError, match="must be a function"):
        ex.check_whitening("nope")


# ------------------------------------------------------------------ the network runs (wine)

def test_wine_keeps_its_units_and_splits_stratified():
    from lecturelib.experiments import preprocessing as runs

    wine = runs.wine()
    assert wine.X_train.shape == (133, 13) and wine.X_test.shape == (45, 13) and wine.is_classification
    assert sorted(wine.y_train.unique().tolist()) == [0, 1, 2]
    rms = wine.X_train.square().mean(0).sqrt()
    assert rms.max() / rms.min() > 1000  # proline (mg/l) against the nonflavanoid phenols
    standardised = runs.transformed(wine, "standardised")
    assert torch.allclose(standardised.X_train.mean(0), torch.zeros(13), atol=1e-4)
    assert torch.allclose(runs.transformed(wine, "centred").X_train.mean(0), torch.zeros(13), atol=1e-2)
    assert runs.transformed(wine, "raw") is wine
    with pytest.raises(ValueError, match="how"):
        runs.transformed(wine, "whitened")


def test_wine_run_is_train_fit_of_the_seeded_tanh_mlp():
    from lecturelib import models, params
    from lecturelib.device import seed_everything
    from lecturelib.experiments import preprocessing as runs
    from lecturelib.train import fit

    wine = runs.wine()
    run = runs.wine_run(wine, "standardised", 0.1, seed=2, steps=7)
    seed_everything(2)
    reference = models.MLP(runs.WINE_WIDTHS, "tanh")
    history = fit(reference, runs.transformed(wine, "standardised"), optimizer="sgd", lr=0.1, momentum=0.9,
                  epochs=7, seed=2)
    assert params.fingerprint(run.model) == params.fingerprint(reference)
    assert run.history.train_loss == history.train_loss and run.history.epoch == list(range(8))
    with pytest.raises(ValueError, match="lr"):
        runs.wine_run(wine, "raw", float("nan"), seed=0)


def test_steps_to_loss_and_fastest_rate():
    from lecturelib.experiments import preprocessing as runs
    from lecturelib.train import History

    history = History()
    history.epoch, history.train_loss = [0, 1, 2, 3], [1.0, 0.5, 0.09, 0.01]
    assert runs.steps_to_loss(history, 0.1) == 2.0 and runs.steps_to_loss(history, 0.001) == float("inf")
    inf = float("inf")
    assert runs.fastest_rate({0.1: [5, 7], 1.0: [3, 9], 0.01: [inf, 2]}) == (0.1, [5, 7])  # both average 6: the smaller rate
    assert runs.fastest_rate({0.1: [4, 8], 1.0: [3, 9]}) == (0.1, [4, 8])  # equal means: the smaller rate
    never = {0.1: [inf, inf], 1.0: [inf, inf]}
    assert runs.fastest_rate(never, {0.1: [1.0, 1.2], 1.0: [0.5, 0.7]}) == (1.0, [inf, inf])
    assert runs.fastest_rate(never, {0.1: [1.0, 1.2], 1.0: [float("nan"), 0.7]})[0] == 0.1  # diverged is worst
    with pytest.raises(ValueError, match="non-empty"):
        runs.fastest_rate({})
    with pytest.raises(ValueError, match="same rates"):
        runs.fastest_rate(never, {0.1: [1.0, 1.0]})
