r"""Dropout in the lecture's keep-probability convention (Srivastava et al. 2014).

Each unit is kept with probability ``keep`` (:math:`p` in the lecture) and zeroed otherwise:

.. math::

    m_i \sim \mathrm{Bernoulli}(\text{keep}), \qquad
    \text{inverted:}\ \tilde x_i = \frac{m_i\,x_i}{\text{keep}}\ \text{(training)},\quad \tilde x_i = x_i\ \text{(test)};
    \qquad
    \text{vanilla:}\ \tilde x_i = m_i\,x_i\ \text{(training)},\quad \tilde x_i = \text{keep}\cdot x_i\ \text{(test)}.

Both make the test-time output the expectation of the training-time one,
:math:`\mathbb E[\tilde x_i] = x_i` (inverted) or :math:`\text{keep}\cdot x_i` (vanilla, as in
Srivastava et al., who scale the weights by :math:`p` at test time). The inverted form is what
``torch.nn.functional.dropout(x, 1 - keep, training)`` computes, and :func:`dropout` computes it the
same way on the CPU, bit for bit and drawing the same random numbers:
``noise = empty_like(x).bernoulli_(keep); noise.div_(keep); x * noise`` (ATen's ``Dropout.cpp``).
So ``models.MLP(dropout=p)``, which calls :func:`dropout` with ``keep = 1 - p``, trains exactly as it
did with ``F.dropout``. (On CUDA, torch fuses dropout into one kernel with its own random stream, so
there the masks differ from ``F.dropout``'s; the distribution is the same.)
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_real, check_tensor, check_type

__all__ = ["dropout", "Dropout"]


def _check_keep(keep) -> float:
    return check_real("keep", keep, minimum=0.0, maximum=1.0, open_min=True)


def _check_generator(generator, x: torch.Tensor):
    if generator is None:
        return None
    check_type("generator", generator, torch.Generator, "a torch.Generator or None")
    if generator.device.type != x.device.type:
        raise ValueError(f"generator is on {generator.device} but the input is on {x.device}; "
                         f"use torch.Generator(device={str(x.device.type)!r})")
    return generator


def dropout(x: torch.Tensor, keep: float = 0.5, inverted: bool = True, generator: torch.Generator | None = None,
            training: bool = True) -> torch.Tensor:
    r"""Keep each entry of ``x`` with probability ``keep`` and zero it otherwise (see the module docstring).

    Args:
        x: a floating tensor of any shape; each entry gets its own mask bit.
        keep: the keep probability :math:`p \in (0, 1]` of the lecture (``1 - keep`` is the drop
            probability of ``torch.nn.functional.dropout``); ``keep = 1`` is the identity.
        inverted: scale the kept entries by ``1 / keep`` in training and leave the test pass alone
            (True), or leave the kept entries alone in training and scale by ``keep`` at test (False).
        generator: the ``torch.Generator`` the mask is drawn from (on ``x``'s device); ``None`` uses
            torch's global generator, exactly as ``F.dropout`` does.
        training: draw a mask (True) or compute the test-time map (False), which draws nothing.

    Returns a new tensor (``x`` itself where the map is the identity, as ``F.dropout`` does).
    Gradients flow through the kept entries, scaled as in the forward pass.
    """
    check_tensor("x", x, floating=True)
    keep = _check_keep(keep)
    check_type("inverted", inverted, bool, "True or False")
    check_type("training", training, bool, "True or False")
    generator = _check_generator(generator, x)
    if keep == 1.0 or x.numel() == 0:
        return x  # torch returns the input for p = 0 and draws nothing
    if not training:
        return x if inverted else x * keep
    noise = torch.empty_like(x).bernoulli_(keep, generator=generator)
    if inverted:
        noise.div_(keep)
    return x * noise


class Dropout(nn.Module):
    r"""The module form of :func:`dropout`: masks in training mode, the test-time map in eval mode.

    ``Dropout(keep=0.8)`` keeps 80 % of the units; ``Dropout(keep, inverted=False)`` is the vanilla
    form of Srivastava et al. (2014) that scales by ``keep`` at test time.
    """

    def __init__(self, keep: float = 0.5, inverted: bool = True):
        super().__init__()
        self.keep = _check_keep(keep)
        self.inverted = check_type("inverted", inverted, bool, "True or False")

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return dropout(x, self.keep, self.inverted, generator=generator, training=self.training)

    def extra_repr(self) -> str:
        return f"keep={self.keep}, inverted={self.inverted}"
