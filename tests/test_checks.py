"""The shared argument checks of lecturelib._checks: NaN-safe, named, and of the right error type."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from lecturelib import _checks
from lecturelib._checks import (check_callable, check_choice, check_finite_tensor, check_fraction, check_input_dtype,
                                check_int, check_labels, check_module, check_nonnegative, check_positive,
                                check_probability, check_real, check_same_rows, check_seed, check_targets,
                                check_tensor, check_type)

NAN, INF = float("nan"), float("inf")
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)


# ------------------------------------------------------------------------- property tests

@given(ANY_FLOAT)
def test_check_positive_accepts_exactly_the_finite_floats_above_zero(value):
    if math.isfinite(value) and value > 0:
        assert check_positive("lr", value) == value
    else:
        with pytest.raises(ValueError, match="lr") as info:
            check_positive("lr", value)
        assert repr(value) in str(info.value) or str(value) in str(info.value)


@given(ANY_FLOAT)
def test_check_nonnegative_accepts_exactly_the_finite_floats_from_zero(value):
    if math.isfinite(value) and value >= 0:
        assert check_nonnegative("noise", value) == value
    else:
        with pytest.raises(ValueError, match="noise"):
            check_nonnegative("noise", value)


@given(ANY_FLOAT)
def test_check_fraction_accepts_exactly_the_open_unit_interval(value):
    if 0 < value < 1:
        assert check_fraction("test_fraction", value) == value
    else:
        with pytest.raises(ValueError, match="test_fraction"):
            check_fraction("test_fraction", value)


@given(ANY_FLOAT, st.booleans())
def test_check_probability_accepts_the_closed_or_half_open_unit_interval(value, allow_one):
    if 0 <= value < 1 or (allow_one and value == 1):
        assert check_probability("dropout", value, allow_one=allow_one) == value
    else:
        with pytest.raises(ValueError, match="dropout"):
            check_probability("dropout", value, allow_one=allow_one)


@given(ANY_FLOAT, st.floats(-10, 10), st.floats(-10, 10), st.booleans(), st.booleans())
def test_check_real_bounds_open_and_closed(value, low, high, open_min, open_max):
    inside = math.isfinite(value) and (value > low if open_min else value >= low) and \
        (value < high if open_max else value <= high)
    if inside:
        assert check_real("x", value, low, high, open_min, open_max) == value
    else:
        with pytest.raises(ValueError, match="x must be a finite number"):
            check_real("x", value, low, high, open_min, open_max)


@given(st.integers(-1000, 1000), st.one_of(st.none(), st.integers(-500, 500)),
       st.one_of(st.none(), st.integers(-500, 500)))
def test_check_int_bounds_are_inclusive(value, minimum, maximum):
    if (minimum is None or value >= minimum) and (maximum is None or value <= maximum):
        assert check_int("steps", value, minimum, maximum) == value
    else:
        with pytest.raises(ValueError, match=f"steps must be an int .*got {value}"):
            check_int("steps", value, minimum, maximum)


@given(st.one_of(st.floats(), st.text(max_size=3), st.booleans(), st.none(), st.lists(st.integers(), max_size=2)))
def test_check_int_refuses_every_non_integer_with_a_type_error(value):
    with pytest.raises(TypeError, match="epochs must be an int"):
        check_int("epochs", value)


@given(st.integers(-2**40, 2**40))
def test_check_seed_accepts_exactly_the_32_bit_unsigned_range(value):
    if 0 <= value < 2**32:
        assert check_seed("seed", value) == value
    else:
        with pytest.raises(ValueError, match="seed"):
            check_seed("seed", value)


@given(st.lists(st.integers(0, 20), min_size=1, max_size=30), st.integers(1, 20))
def test_check_labels_accepts_exactly_labels_below_the_output_width(labels, n_classes):
    y = torch.tensor(labels)
    if max(labels) < n_classes:
        assert check_labels("y", y, n_classes) is y
    else:
        with pytest.raises(ValueError, match=rf"y holds labels in \[{min(labels)}, {max(labels)}\]"):
            check_labels("y", y, n_classes)


# ------------------------------------------------------------------------- numbers

@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_bools_are_not_numbers(value):
    with pytest.raises(TypeError, match="n must be an int"):
        check_int("n", value)
    with pytest.raises(TypeError, match="x must be a real number"):
        check_real("x", value)


def test_numpy_and_plain_numbers_come_back_plain():
    assert type(check_int("n", np.int64(3))) is int and check_int("n", np.int64(3)) == 3
    assert type(check_real("x", np.float32(0.5))) is float
    assert type(check_positive("lr", 1)) is float and check_positive("lr", 1) == 1.0
    assert check_seed("seed", np.uint32(7)) == 7


@pytest.mark.parametrize("check", [check_real, check_positive, check_nonnegative, check_fraction,
                                   check_probability])
@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_nan_and_infinities_never_pass(check, value):
    with pytest.raises(ValueError, match="eps must be a finite number"):
        check("eps", value)


@pytest.mark.parametrize("value", ["0.1", None, [0.1], torch.tensor(0.1), 1j])
def test_non_numbers_are_type_errors(value):
    with pytest.raises(TypeError, match="lr must be a real number"):
        check_positive("lr", value)


def test_messages_show_the_value_and_the_accepted_range():
    with pytest.raises(ValueError, match=r"lr must be a finite number > 0.0, got -1.0"):
        check_positive("lr", -1)
    with pytest.raises(ValueError, match=r"p must be a finite number >= 0.0 and < 1.0, got 1.0"):
        check_probability("p", 1.0, allow_one=False)
    with pytest.raises(ValueError, match=r"k must be an int >= 1 and <= 5, got 6"):
        check_int("k", 6, 1, 5)
    with pytest.raises(ValueError, match=r"x must be a finite number, got nan"):
        check_real("x", NAN)
    with pytest.raises(TypeError, match=r"seed must be an int, got str \('x'\)"):
        check_seed("seed", "x")


def test_long_values_are_shortened_in_messages():
    with pytest.raises(TypeError) as info:
        check_int("n", "x" * 500)
    assert len(str(info.value)) < 200 and "..." in str(info.value)


# ------------------------------------------------------------------------- kinds and choices

def test_check_type_and_its_wording():
    assert check_type("data", 3, int) == 3
    with pytest.raises(TypeError, match="data must be a int or float, got str"):
        check_type("data", "x", (int, float))
    with pytest.raises(TypeError, match="data must be a DataSplit, got list"):
        check_type("data", [], dict, what="a DataSplit")


def test_check_choice_lists_the_choices():
    assert check_choice("norm", None, ("filter", None)) is None
    with pytest.raises(ValueError, match="norm must be one of 'filter', None; got 'x'"):
        check_choice("norm", "x", ("filter", None))
    with pytest.raises(ValueError, match="kind"):
        check_choice("kind", ["unhashable"], {"a", "b"})


def test_check_callable_and_check_module():
    assert check_callable("loss_fn", len) is len
    with pytest.raises(TypeError, match="loss_fn must be callable, got int"):
        check_callable("loss_fn", 3)
    net = nn.Linear(2, 1)
    assert check_module("model", net, trainable=True) is net
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got str"):
        check_module("model", "net")
    with pytest.raises(ValueError, match=r"model \(ReLU\) has no trainable parameters"):
        check_module("model", nn.ReLU(), trainable=True)
    frozen = nn.Linear(2, 1).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable"):
        check_module("model", frozen, trainable=True)


# ------------------------------------------------------------------------- tensors

def test_check_tensor_shape_wildcards():
    x = torch.zeros(5, 64)
    assert check_tensor("X", x, shape=(None, 64)) is x
    assert check_tensor("X", x, shape=(5, None)) is x
    with pytest.raises(ValueError, match=r"X must have shape \(N, 32\), got \(5, 64\)"):
        check_tensor("X", x, shape=(None, 32))
    with pytest.raises(ValueError, match=r"X must have shape \(N, 64, N\)"):
        check_tensor("X", x, shape=(None, 64, None))


def test_check_tensor_dimensions_dtype_and_emptiness():
    x = torch.zeros(3, 4)
    with pytest.raises(TypeError, match="X must be a torch.Tensor, got list"):
        check_tensor("X", [[0.0]])
    with pytest.raises(ValueError, match=r"X must have 1 or 3 dimensions, got shape \(3, 4\)"):
        check_tensor("X", x, ndim=(1, 3))
    with pytest.raises(ValueError, match="X must have at least 3 dimensions"):
        check_tensor("X", x, min_ndim=3)
    with pytest.raises(ValueError, match="X must not be empty"):
        check_tensor("X", torch.zeros(0, 4), nonempty=True)
    with pytest.raises(TypeError, match="X must have dtype torch.float64, got torch.float32"):
        check_tensor("X", x, dtype=torch.float64)
    with pytest.raises(TypeError, match="y must be a floating-point tensor"):
        check_tensor("y", torch.zeros(3, dtype=torch.long), floating=True)
    for dtype in (torch.float32, torch.bool, torch.complex64):
        with pytest.raises(TypeError, match="y must be an integer tensor"):
            check_tensor("y", torch.zeros(3, dtype=dtype), floating=False)
    assert check_tensor("y", torch.zeros(3, dtype=torch.int32), floating=False) is not None
    with pytest.raises(ValueError, match="X is on cpu, expected meta"):
        check_tensor("X", x, device="meta")


def test_check_finite_tensor_counts_the_bad_entries():
    x = torch.tensor([1.0, NAN, INF, -INF, 2.0])
    with pytest.raises(ValueError, match=r"X holds 3 NaN or infinite entries \(of 5\)"):
        check_finite_tensor("X", x)
    with pytest.raises(ValueError, match="X holds 3"):
        check_tensor("X", x, finite=True)
    assert check_finite_tensor("y", torch.tensor([1, 2])) is not None  # integers are always finite


def test_check_labels_names_the_width_and_refuses_negative_or_float_labels():
    with pytest.raises(ValueError, match=r"y holds labels in \[-1, 2\] but the model has 3 outputs, "
                                         r"so class labels must lie in \[0, 2\]"):
        check_labels("y", torch.tensor([0, -1, 2]), 3)
    with pytest.raises(TypeError, match="y must be an integer tensor"):
        check_labels("y", torch.tensor([0.0, 1.0]), 3)
    assert check_labels("y", torch.zeros(0, dtype=torch.long), 3).numel() == 0


def test_check_same_rows():
    check_same_rows(("X", "y"), torch.zeros(4, 2), torch.zeros(4))
    with pytest.raises(ValueError, match=r"y must have one entry per row of X \(4\), got shape \(3,\)"):
        check_same_rows(("X", "y"), torch.zeros(4, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="y must have one entry per row of X"):
        check_same_rows(("X", "y"), torch.zeros(4, 2), torch.tensor(1.0))


def test_check_targets_float_shapes_and_labels():
    out = torch.zeros(2, 1)  # outputs of the first batch only
    assert check_targets("y", torch.zeros(30, 1), out) is not None
    with pytest.raises(ValueError, match=r"y has shape \(30,\) but the model's outputs have shape \(30, 1\).*"
                                         r"y\.reshape\(-1, 1\)"):
        check_targets("y", torch.zeros(30), out)
    with pytest.raises(ValueError, match=r"y_train.*reshape\(-1, 3\)"):
        check_targets("y_train", torch.zeros(30, 2), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"y.*reshape\(-1\)"):
        check_targets("y", torch.zeros(30, 1), torch.zeros(2))
    with pytest.raises(ValueError, match="y holds labels in"):
        check_targets("y", torch.tensor([0, 10]), torch.zeros(2, 10))
    assert check_targets("y", torch.tensor([0, 9]), torch.zeros(2, 10)) is not None


def test_check_input_dtype_names_both_dtypes_and_the_fix():
    model = nn.Linear(2, 1)
    assert check_input_dtype("X", torch.zeros(3, 2), model) is not None
    assert check_input_dtype("X", torch.zeros(3, 2, dtype=torch.long), model) is not None  # not floating
    with pytest.raises(TypeError, match=r"X has dtype torch.float64 but the model's parameters are torch.float32; "
                                        r"convert one of them: X\.float\(\) or model\.double\(\)"):
        check_input_dtype("X", torch.zeros(3, 2, dtype=torch.float64), model)
    with pytest.raises(TypeError, match=r"X\.double\(\) or model\.float\(\)"):
        check_input_dtype("X", torch.zeros(3, 2), model.double())
    assert check_input_dtype("X", torch.zeros(3, 2, dtype=torch.float64), nn.ReLU()) is not None


def test_every_public_check_is_exported():
    public = {name for name in dir(_checks) if name.startswith("check_")}
    assert public == set(_checks.__all__)


# ------------------------------------------------------------------------- mutation-guided tests

def test_check_type_names_a_union_type_that_has_no_name():
    # catches a broken fallback for types without __name__ (int | str)
    with pytest.raises(TypeError, match=r"^x must be a int \| str, got float \(1.5\)$"):
        check_type("x", 1.5, int | str)
    with pytest.raises(TypeError, match=r"^x must be a int or str, got float \(1.5\)$"):
        check_type("x", 1.5, (int, str))
