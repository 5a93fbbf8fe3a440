r"""Topology of level sets (Freeman & Bruna 2016; Venturi, Bandeira & Bruna 2019).

- :mod:`~lecturelib.topology.components`: :math:`\Omega_L(\lambda) = \{\theta : L(\theta) \le \lambda\}`
  on a grid, its connected components :math:`N_\lambda`, their minima and the spurious valleys;
- :mod:`~lecturelib.topology.strings`: Freeman & Bruna's Dynamic String Sampling, a piecewise-linear
  path inside :math:`\Omega_L(\lambda)` between two parameter points, and its normalised length.

``from lecturelib import topology; topology.sublevel_components(values, level)`` reaches everything listed here.
"""

from .components import (as_grid, component_counts, component_minima, spurious_valleys, sublevel_components,
                         sublevel_labels, sublevel_mask)
from .strings import StringPath, dynamic_string_sampling

__all__ = ["as_grid", "sublevel_mask", "sublevel_labels", "sublevel_components", "component_counts",
           "component_minima", "spurious_valleys", "StringPath", "dynamic_string_sampling"]
