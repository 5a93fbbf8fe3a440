"""Tests of the topology chapter's checker and path runs.

The checker is compared with scipy.ndimage.label (an independent labelling) and each planted
mistake must fail with its own hint.
"""

import numpy as np
import pytest
from scipy import ndimage

from lecturelib.exercises import topology as ex


def _right(values, level):
    return int(ndimage.label(values <= level)[1])


def test_reference_agrees_with_scipy_on_random_fields():
    rng = np.random.default_rng(0)
    for _ in range(30):
        values = rng.standard_normal(tuple(rng.integers(1, 14, size=2)))
        level = float(rng.normal())
        assert ex._reference(values, level) == _right(values, level)


def test_right_answer_passes():
    result = ex.check_component_count(_right)
    assert result.passed and repr(result).startswith("Correct")


@pytest.mark.parametrize("mistake, hint", [
    (lambda v, l: int(ndimage.label(v <= l, structure=np.ones((3, 3)))[1]), "diagonal"),
    (lambda v, l: int(ndimage.label(v < l)[1]), "strict"),
    (lambda v, l: int(ndimage.label(v >= l)[1]), "superlevel"),
    (lambda v, l: int(np.count_nonzero(v <= l)), "cells of the sublevel set"),
])
def test_planted_mistakes_fail_with_their_hint(mistake, hint):
    result = ex.check_component_count(mistake)
    assert not result.passed
    assert hint in result.message, result.message


def test_unrecognised_wrong_answers_and_bad_returns_fail_without_raising():
    assert not ex.check_component_count(lambda v, l: _right(v, l) + 1).passed
    assert "integer" in ex.check_component_count(lambda v, l: "two").message
    assert "integer" in ex.check_component_count(lambda v, l: 1.5).message
    assert "raised ZeroDivisionError" in ex.check_component_count(lambda v, l: 1 / 0).message
    assert ex.check_component_count(lambda v, l: np.int64(_right(v, l))).passed


def test_misuse_raises_type_error():
    with pytest.raises(TypeError, match="count_fn"):
        ex.check_component_count(3)
