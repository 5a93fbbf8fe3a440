r"""Loss landscapes along random and chosen directions (Li et al. 2018, *Visualizing the Loss
Landscape of Neural Nets*): :math:`f(\alpha, \beta) = L(\theta^* + \alpha\delta + \beta\eta)`.

- :mod:`~lecturelib.landscape.directions`: random, filter-normalised and between-model directions;
- :mod:`~lecturelib.landscape.slices`: :func:`plane`, :func:`line`, :func:`interpolate` and
  their :class:`LandscapeResult`;
- :mod:`~lecturelib.landscape.engine`: :func:`evaluate_affine`, the loss at many points of one
  affine family, by the vectorised path (:mod:`~lecturelib.landscape.engine_vmap`) or the per-point
  path (:mod:`~lecturelib.landscape.engine_pointwise`), the faster chosen by measuring both on the
  first points of the grid (:mod:`~lecturelib.landscape.strategy`);
- :mod:`~lecturelib.landscape.distributed`: :func:`evaluate_split`, the same with the grid points
  split across the ranks of a ``torch.distributed`` process group (``torchrun``), which
  :func:`plane`, :func:`line` and :func:`interpolate` use whenever one is initialised.

Figures of the results are drawn by :mod:`lecturelib.plotting.landscape`.
``from lecturelib import landscape; landscape.plane(...)`` reaches everything listed here.
"""

from .directions import (DIRECTION_NORMS, IGNORES, KINDS, direction_between, normalize_direction,
                         random_direction, weight_values)
from .distributed import evaluate_split, is_distributed, shard
from .engine import ENGINES, evaluate_affine, first_linear_layer, forward_macs
from .slices import LandscapeResult, interpolate, line, plane

__all__ = ["DIRECTION_NORMS", "IGNORES", "KINDS", "random_direction", "normalize_direction", "direction_between",
           "weight_values", "ENGINES", "evaluate_affine", "forward_macs", "first_linear_layer",
           "LandscapeResult", "plane", "line", "interpolate",
           "evaluate_split", "is_distributed", "shard"]
