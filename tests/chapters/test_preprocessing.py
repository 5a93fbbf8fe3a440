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
