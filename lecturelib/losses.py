r"""The default losses: cross-entropy for integer targets, squared error for float targets.

Cross-entropy is the multiclass logistic loss :math:`L(u, y) = \log\sum_j e^{u_j} - u_y` and the
squared error :math:`L(u, y) = \frac1K\|u - y\|_2^2` is averaged over the :math:`K` outputs
(PyTorch's ``mse_loss``); both are means over the samples of a batch. :func:`default_loss` picks
PyTorch's implementations; :func:`vmap_loss` picks the same functions written with plain tensor
operations, which run several times faster under ``torch.func.vmap`` on the CPU.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ._checks import check_tensor

__all__ = ["default_loss", "vmap_loss", "cross_entropy", "cross_entropy_and_correct", "mean_squared_error"]

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def default_loss(y: torch.Tensor) -> Loss:
    """``F.cross_entropy`` for integer targets ``y``, ``F.mse_loss`` for floating-point targets."""
    check_tensor("targets", y)
    return F.mse_loss if torch.is_floating_point(y) else F.cross_entropy


def cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Mean of :math:`\log\sum_j e^{u_j} - u_y`: ``F.cross_entropy`` written with ``logsumexp``
    and ``gather``, several times faster under ``vmap`` on the CPU (over 10 classes)."""
    # output: (batch, classes), target: (batch,)
    picked = output.gather(1, target.unsqueeze(1)).squeeze(1)
    return (torch.logsumexp(output, dim=1) - picked).mean()


def cross_entropy_and_correct(output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r""":func:`cross_entropy` and the number of samples whose arg-max is the target, from one
    reduction: the row maxima :math:`m` and their indices give both the shift of
    :math:`\log\sum_j e^{u_j} = m + \log\sum_j e^{u_j - m}` (``torch.logsumexp``'s own formula, an
    infinite maximum shifted by 0 as there) and the predictions (the first maximal index, as
    ``argmax``). ``output`` may carry leading dimensions, one result per leading index (the outputs
    of several networks on the same batch). Returns ``(mean loss, count)``, the count an integer tensor."""
    # output: (..., batch, classes), target: (batch,)
    largest, predicted = output.max(dim=-1, keepdim=True)  # (..., batch, 1) each
    shift = largest.masked_fill(largest.abs() == float("inf"), 0.0)
    log_sum = (output - shift).exp_().sum(dim=-1).log_().add_(shift.squeeze(-1))  # (..., batch)
    picked = output.gather(-1, target.expand(output.shape[:-1]).unsqueeze(-1)).squeeze(-1)
    return (log_sum - picked).mean(dim=-1), (predicted.squeeze(-1) == target).sum(dim=-1)


def mean_squared_error(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``F.mse_loss``: the mean over samples and outputs of the squared error."""
    return ((output - target) ** 2).mean()


def vmap_loss(y: torch.Tensor) -> Loss:
    """:func:`default_loss`'s choice for targets ``y``, in the form that is fast under ``vmap``."""
    check_tensor("targets", y)
    return mean_squared_error if torch.is_floating_point(y) else cross_entropy
