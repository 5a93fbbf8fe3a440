"""Answer checkers for the residual-networks chapter (:mod:`book/residual`)."""

from __future__ import annotations

import torch

from ..models import MLP
from . import ExerciseResult, call_answer, check_close, require_function

__all__ = ["check_parameter_count", "check_identity_embedding"]


def _reference_count(hidden: int, width: int) -> int:
    """Parameters of ``MLP([1] + [width] * hidden + [1, 1])``: weights plus biases of each layer."""
    widths = [1] + [width] * hidden + [1, 1]
    return sum(fan_in * fan_out + fan_out for fan_in, fan_out in zip(widths[:-1], widths[1:]))


def check_parameter_count(formula) -> ExerciseResult:
    """Check ``formula(hidden, width)``, the parameter count of the lecture's nets
    ``[1] + [width] * hidden + [1, 1]`` (78 for ``hidden=3, width=5``), for hidden = 1..50 and
    width = 1..8."""
    require_function(formula, "formula")
    for width in range(1, 9):
        for hidden in range(1, 51):
            got, failure = call_answer(formula, (hidden, width), f"formula({hidden}, {width})")
            if failure is not None:
                return failure
            expected = _reference_count(hidden, width)
            if got != expected:
                return ExerciseResult(False, f"formula({hidden}, {width}) = {got!r}, but the net has {expected} "
                                             "parameters. Count the first layer (1 -> width), the hidden-1 "
                                             "square layers (width -> width), then width -> 1 and 1 -> 1, each "
                                             "with its biases.")
    return ExerciseResult(True, "the formula gives every net's parameter count (e.g. 1,338 for 45 x 5).")


def _reference_forward(widths, parameters, slope: float, x: torch.Tensor) -> torch.Tensor:
    r"""The residual LeakyReLU net written out, independent of :class:`MLP`: with :math:`z_1 = x`,
    :math:`z_{j+1} = z_j + \sigma(W_j z_j + b_j)` where the widths agree, :math:`\sigma(W_j z_j + b_j)`
    where they change, and an affine output. ``parameters`` lists ``(W_j, b_j)``; ``x`` is ``(N, n_in)``."""
    z = x
    for j, (weight, bias) in enumerate(parameters[:-1]):
        v = z @ weight.T + bias  # (N, n_{j+1})
        h = torch.where(v > 0, v, slope * v)
        z = z + h if widths[j] == widths[j + 1] else h
    weight, bias = parameters[-1]
    return z @ weight.T + bias  # (N, n_out)


def _parameters(net) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(layer.weight.detach().clone(), layer.bias.detach().clone()) for layer in net.layers]


def _embedding_mistake(deeper, shallow, shallow_parameters, hidden: int) -> str:
    """The likely mistake of a deeper net whose function differs from the shallow one, as a hint."""
    if deeper.activation != shallow.activation:
        return (f"Your net uses activation {deeper.activation!r}, the shallow one {shallow.activation!r}: "
                "build it with activation=shallow.activation.")
    if any(not (torch.equal(w, w0) and torch.equal(b, b0))
           for (w, b), (w0, b0) in zip(_parameters(shallow), shallow_parameters)):
        return "Your function changed the shallow net's weights: copy them into the deep net, leave the shallow one."
    first = next(iter(deeper.parameters()), None)
    if first is not None and first.dtype != torch.float64:
        return ("Your net is in float32, which rounds the copied float64 weights: call .double() on the deep "
                "net before copying.")
    got = [(w.double(), b.double()) for w, b in _parameters(deeper)]
    if not (torch.equal(got[0][0], shallow_parameters[0][0]) and torch.equal(got[0][1], shallow_parameters[0][1])):
        return "The first layer (1 -> 5) differs from the shallow net's: copy it."
    if any(not (torch.equal(w, w0) and torch.equal(b, b0)) for (w, b), (w0, b0) in zip(got[-2:], shallow_parameters[-2:])):
        return ("The last two layers (5 -> 1 and 1 -> 1) differ from the shallow net's: copy shallow's last two "
                "layers into the deep net's last two, after all its 5 x 5 blocks.")
    blocks = got[1:-2]  # the deep net's hidden - 1 square blocks
    zero = [bool((w == 0).all() and (b == 0).all()) for w, b in blocks]
    zero_weight_only = [bool((w == 0).all() and (b != 0).any()) for w, b in blocks]
    if any(zero_weight_only):
        return ("A block with W = 0 but b != 0 adds sigma(b) to its input: zero the biases of the extra blocks "
                "too.")
    extra = hidden - (len(shallow_parameters) - 2)
    if sum(zero) < extra:
        return ("Set weight and bias of every extra 5 x 5 block to zero: a block at its random initialisation "
                "changes z.")
    kept = [block for block, is_zero in zip(blocks, zero) if not is_zero]
    if len(kept) != len(shallow_parameters[1:-2]) or any(
            not (torch.equal(w, w0) and torch.equal(b, b0)) for (w, b), (w0, b0) in zip(kept, shallow_parameters[1:-2])):
        return "Copy the shallow net's 5 x 5 blocks, in their order, into the deep net's non-zero blocks."
    return "Copy the shallow net's first layers and its last two layers; set weight and bias of every extra 5 x 5 block to zero."


def check_identity_embedding(embed) -> ExerciseResult:
    r"""Check ``embed(shallow, hidden)``: it must return a residual ``MLP`` with ``hidden`` layers of
    width 5 that computes the same function as the residual ``shallow`` (to 1e-12 in float64).

    The reference is the shallow net's function written out from its weights
    (:math:`z_{j+1} = z_j + \sigma(W_j z_j + b_j)`, He et al. 2016), not :class:`MLP`'s forward pass nor
    :func:`lecturelib.models.surgery.embed_residual`. A wrong answer is told its likely mistake: another
    activation, float32, a layer not copied, extra blocks not zeroed or with non-zero biases.
    """
    require_function(embed, "embed")
    x = torch.linspace(-3, 3, 301, dtype=torch.float64).unsqueeze(1)  # (301, 1)
    for seed, (shallow_hidden, hidden) in enumerate([(3, 5), (3, 45), (5, 12), (2, 2)]):
        torch.manual_seed(seed)
        shallow = MLP([1] + [5] * shallow_hidden + [1, 1], activation="leaky_relu", residual=True).double()
        shallow_parameters = _parameters(shallow)
        expected = _reference_forward(shallow.widths, shallow_parameters, 0.01, x)  # (301, 1)
        deeper, failure = call_answer(embed, (shallow, hidden), f"embed(shallow, {hidden})")
        if failure is not None:
            return failure
        expected_widths = [1] + [5] * hidden + [1, 1]
        if not isinstance(deeper, MLP) or deeper.widths != expected_widths:
            return ExerciseResult(False, f"embed(shallow, {hidden}) must return a residual MLP with widths "
                                         f"{expected_widths}, got {getattr(deeper, 'widths', deeper)!r}.")
        if not deeper.residual:
            return ExerciseResult(False, f"embed(shallow, {hidden}) returned a plain MLP: build it with residual=True "
                                         "(a plain layer with zero weights outputs sigma(0) = 0, not its input).")
        with torch.no_grad():
            got = deeper.double()(x) if next(deeper.parameters()).dtype == torch.float64 else deeper(x.float())
        result = check_close(got, expected, f"the {hidden}-layer net's output on [-3, 3]", rtol=0, atol=1e-12)
        if not result.passed:
            return ExerciseResult(False, f"{result.message} {_embedding_mistake(deeper, shallow, shallow_parameters, hidden)}")
        if any(not (torch.equal(w, w0) and torch.equal(b, b0))
               for (w, b), (w0, b0) in zip(_parameters(shallow), shallow_parameters)):
            return ExerciseResult(False, f"embed(shallow, {hidden}): your function changed the shallow net's weights; "
                                         "copy them into the deep net and leave the shallow net as it was.")
    return ExerciseResult(True, "every deeper residual net computes the shallow net's function exactly "
                                "(compared with the shallow net written out, on 301 inputs, 4 depths).")
