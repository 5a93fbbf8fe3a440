import numpy as np
import pytest
import torch

from lecturelib.exercises import ExerciseResult, check_close, check_function


def test_check_close_accepts_a_right_answer():
    result = check_close(torch.tensor([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]), "the gradient")
    assert result.passed and bool(result) and repr(result).startswith("Correct")


def test_check_close_explains_wrong_answers():
    wrong = check_close([1.0, 2.5, 3.0], [1.0, 2.0, 3.0], "the gradient", hint="Check the sign.")
    assert not wrong.passed
    assert "index (1,)" in wrong.message and "expected 2" in wrong.message and "Check the sign." in wrong.message
    assert "expected shape (3,)" in check_close([1.0], [1.0, 2.0, 3.0], "x").message
    assert "NaN" in check_close([float("nan")], [1.0], "x").message
    assert "forget to `return`" in check_close(None, [1.0], "x").message


def test_check_function_reports_the_failing_case_and_exceptions():
    ok = check_function(lambda x: 2 * x, lambda x: x + x, [1.0, 2.0, (3.0,)], "doubling")
    assert ok.passed and "all 3 test cases" in ok.message
    bad = check_function(lambda x: 2 * x if x < 2 else 0.0, lambda x: 2 * x, [1.0, 2.0], "doubling")
    assert not bad.passed and "test case 2" in bad.message
    crash = check_function(lambda x: 1 / 0, lambda x: x, [1.0], "division")
    assert not crash.passed and "ZeroDivisionError" in crash.message


def test_checkers_reject_misuse():
    with pytest.raises(TypeError, match="must be a function"):
        check_function(3, lambda x: x, [1.0], "x")
    with pytest.raises(ValueError, match="at least one"):
        check_function(lambda x: x, lambda x: x, [], "x")
    with pytest.raises(TypeError, match="answer must be a number"):
        check_close(object(), 1.0, "x")
    assert ExerciseResult(False, "m").__repr__() == "Not yet: m"


# ---------------------------------------------------------------- convexification

def test_singular_value_projection_checker_accepts_the_library_and_names_each_mistake():
    from lecturelib import convex
    from lecturelib.exercises import convexification as ex

    assert ex.check_singular_value_projection(lambda s, r: convex.project_l1_ball(s, r)).passed
    for mistake, phrase in [
        (lambda s, r: torch.clamp(s - (s.sum() - r) / len(s), min=0), "returned unchanged"),
        (lambda s, r: s - torch.tensor(ex._threshold(s.numpy(), r)), "clamp at zero"),
        (lambda s, r: s * min(1.0, r / float(s.sum())), "rescales"),
        (lambda s, r: s, "expected"),
    ]:
        result = ex.check_singular_value_projection(mistake)
        assert not result.passed and phrase in result.message
    raised = ex.check_singular_value_projection(lambda s, r: 1 / 0)
    assert not raised.passed and "ZeroDivisionError" in raised.message
    with pytest.raises(TypeError, match="project"):
        ex.check_singular_value_projection("not a function")
