r"""Connected components of sublevel sets of a function sampled on a regular grid.

For a loss :math:`L:\Theta\to\mathbb{R}` the *sublevel set* at level :math:`\lambda` is

.. math::

    \Omega_L(\lambda) = \{\theta\in\Theta : L(\theta) \le \lambda\},

and :math:`N_\lambda` is its number of connected components (Freeman & Bruna 2016; Venturi,
Bandeira & Bruna 2019). :math:`N_\lambda = 1` for every :math:`\lambda` means the loss has a
single basin; a component whose lowest value lies above the global minimum of :math:`L` is a
*spurious valley*: gradient descent started in it can never reach a global minimiser without
first climbing above :math:`\lambda`.

Here :math:`L` is known only at the nodes of a regular grid of any dimension, ``values[i, j, ...]``.
Two nodes in :math:`\Omega_L(\lambda)` are neighbours when they differ by one step along one axis
(*face adjacency*: 2 neighbours in 1-D, 4 in 2-D, 6 in 3-D, :math:`2d` in :math:`d` dimensions;
diagonal steps do not connect), and components are found by ``scipy.ndimage.label`` with the
structuring element ``generate_binary_structure(ndim, 1)``. A grid count is an estimate of the
continuous one: a component thinner than the grid step can be missed or split, so refine the
grid until the count stops changing.

``values`` is a NumPy array or a torch tensor (copied to the CPU), real-valued, non-empty. NaN is
refused (it belongs to no sublevel set and would hide a bug); :math:`+\infty` marks a node outside
every sublevel set (an obstacle) and :math:`-\infty` one inside all of them. Levels are finite.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from .._checks import check_nonnegative, check_real

__all__ = ["as_grid", "sublevel_mask", "sublevel_labels", "sublevel_components", "component_counts",
           "component_minima", "spurious_valleys"]


def as_grid(values, name: str = "values") -> np.ndarray:
    """``values`` (NumPy array or torch tensor, at least 1-D, non-empty, no NaN) as a float64 array."""
    if isinstance(values, torch.Tensor):
        if values.is_complex():
            raise TypeError(f"{name} must be real, got a complex tensor ({values.dtype})")
        array = values.detach().to("cpu", torch.float64).numpy()
    elif isinstance(values, np.ndarray):
        if not (np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.integer)
                or values.dtype == np.bool_):
            raise TypeError(f"{name} must hold real numbers, got a NumPy array of dtype {values.dtype}")
        array = values.astype(np.float64)
    else:
        raise TypeError(f"{name} must be a NumPy array or a torch tensor of loss values on a grid, "
                        f"got {type(values).__name__}")
    if array.ndim == 0 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty grid with at least one axis, got shape {array.shape}")
    nan = np.isnan(array)
    if nan.any():
        raise ValueError(f"{name} holds {int(nan.sum())} NaN entries (of {array.size}); a NaN loss belongs to "
                         "no sublevel set: fix or mask it (+inf excludes a node from every sublevel set)")
    return array


def _level(level) -> float:
    if isinstance(level, (np.ndarray, torch.Tensor)) and level.ndim == 0:
        level = level.item()
    return check_real("level", level)


def sublevel_mask(values, level) -> np.ndarray:
    r"""The boolean grid of :math:`\Omega_L(\lambda)`: ``values <= level``."""
    return as_grid(values) <= _level(level)


def _label(grid: np.ndarray, level: float):
    mask = grid <= level
    structure = ndimage.generate_binary_structure(grid.ndim, 1)  # face adjacency
    labels, count = ndimage.label(mask, structure=structure)
    return labels, int(count)


def sublevel_labels(values, level) -> tuple[np.ndarray, int]:
    r"""Label the connected components of :math:`\Omega_L(\lambda)` on the grid.

    Returns ``(labels, count)``: an integer array of ``values``' shape holding 0 outside
    :math:`\Omega_L(\lambda)` and ``1..count`` on its components (face adjacency, module docstring),
    and :math:`N_\lambda` = ``count``.
    """
    return _label(as_grid(values), _level(level))


def sublevel_components(values, level) -> int:
    r""":math:`N_\lambda`, the number of connected components of :math:`\Omega_L(\lambda)` on the grid."""
    return sublevel_labels(values, level)[1]


def _levels(levels) -> np.ndarray:
    if isinstance(levels, torch.Tensor):
        levels = levels.detach().cpu().numpy()
    if not isinstance(levels, (list, tuple, np.ndarray)):
        raise TypeError(f"levels must be a list, tuple, 1-D array or tensor of finite numbers (for one level use "
                        f"sublevel_components), got {type(levels).__name__}")
    if np.ndim(levels) != 1 or len(levels) == 0:
        raise ValueError(f"levels must be a non-empty 1-D sequence, got shape {np.shape(levels)}")
    return np.array([check_real(f"levels[{i}]", level) for i, level in enumerate(levels)], dtype=np.float64)


def component_counts(values, levels) -> np.ndarray:
    r""":math:`N_\lambda` for each level of a sweep: an ``int64`` array of ``levels``' length.

    The grid is checked once; each level is labelled independently, so the levels need not be sorted.
    """
    grid = as_grid(values)
    return np.array([_label(grid, level)[1] for level in _levels(levels)], dtype=np.int64)


def component_minima(values, level) -> np.ndarray:
    r"""The lowest value of :math:`L` in each component of :math:`\Omega_L(\lambda)`, sorted ascending.

    A float64 array of length :math:`N_\lambda` (empty when the level is below every value).
    """
    grid = as_grid(values)
    labels, count = _label(grid, _level(level))
    if count == 0:
        return np.zeros(0, dtype=np.float64)
    minima = ndimage.minimum(grid, labels=labels, index=np.arange(1, count + 1))
    return np.sort(np.asarray(minima, dtype=np.float64))


def spurious_valleys(values, level, tol: float = 1e-9) -> int:
    r"""The number of components of :math:`\Omega_L(\lambda)` containing no global minimiser of the grid.

    A component counts as spurious when its minimum exceeds the grid's global minimum
    :math:`\min L` by more than ``tol`` (an absolute tolerance, so that two basins whose minima
    differ only by rounding both count as global). Zero when the level lies below :math:`\min L`.
    """
    tol = check_nonnegative("tol", tol)
    grid = as_grid(values)
    minima = component_minima(grid, level)
    return int(np.sum(minima > grid.min() + tol))
