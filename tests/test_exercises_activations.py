"""Tests of lecturelib.exercises.activations: right answers pass, wrong ones get a useful hint."""

import pytest
import torch

from lecturelib.exercises import activations as exercises


def test_elu_derivative_checker():
    right = exercises.check_elu_derivative(lambda u, a: torch.where(u > 0, torch.ones_like(u), a * torch.exp(u)))
    assert right.passed and repr(right).startswith("Correct")
    forgot_alpha = exercises.check_elu_derivative(lambda u, a: torch.where(u > 0, torch.ones_like(u), torch.exp(u)))
    assert not forgot_alpha.passed and "alpha=0.5" in forgot_alpha.message and "exp(u)" in forgot_alpha.message
    assert repr(forgot_alpha).startswith("Not yet")
    crashing = exercises.check_elu_derivative(lambda u, a: u.nonexistent())
    assert not crashing.passed and "AttributeError" in crashing.message
    returns_none = exercises.check_elu_derivative(lambda u, a: None)
    assert not returns_none.passed and "return" in returns_none.message


def _collapse(model, reverse=False):
    W = torch.eye(model.widths[0], dtype=torch.float64)
    b = torch.zeros(model.widths[0], dtype=torch.float64)
    for layer in model.layers:
        A, c = layer.weight.double(), layer.bias.double()
        W, b = A @ W, A @ b + c
    return W, b


def test_collapse_checker():
    assert exercises.check_collapse(_collapse).passed
    def forgot_biases(model):
        W, b = _collapse(model)
        return W, torch.zeros_like(b)
    result = exercises.check_collapse(forgot_biases)
    assert not result.passed and "b = b_n" in result.message
    def transposed(model):
        W, b = _collapse(model)
        return W.T, b
    result = exercises.check_collapse(transposed)
    assert not result.passed and "shape" in result.message
    result = exercises.check_collapse(lambda model: _collapse(model)[0])
    assert not result.passed and "pair" in result.message


def test_collapse_checker_leaves_the_random_stream_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    exercises.check_collapse(_collapse)
    assert torch.equal(torch.rand(3), expected)


def test_parameter_count_checker():
    right = exercises.check_parameter_count(lambda w: sum((a + 1) * b for a, b in zip(w[:-1], w[1:])))
    assert right.passed and "78" in right.message
    weights_only = exercises.check_parameter_count(lambda w: sum(a * b for a, b in zip(w[:-1], w[1:])))
    assert not weights_only.passed and "bias" in weights_only.message and "78" in weights_only.message
    no_output = exercises.check_parameter_count(lambda w: sum((a + 1) * b for a, b in zip(w[:-2], w[1:-1])))
    assert not no_output.passed and "output" in no_output.message
    assert exercises.check_parameter_count(lambda w: torch.tensor(sum((a + 1) * b for a, b in zip(w[:-1], w[1:])))).passed
    assert not exercises.check_parameter_count(lambda w: 1 / 0).passed


@pytest.mark.parametrize("checker", [exercises.check_elu_derivative, exercises.check_collapse,
                                     exercises.check_parameter_count])
def test_checkers_reject_non_functions(checker):
    with pytest.raises(TypeError, match="function"):
        checker(42)
