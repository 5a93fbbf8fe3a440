"""The runs of the topology chapter (``book/topology``), one module per part:

- :mod:`~lecturelib.experiments.topology.sublevel`: sublevel sets of small models counted on grids, linear
  networks and a ReLU network with a spurious valley;
- :mod:`~lecturelib.experiments.topology.paths`: paths between trained minima of two-layer ReLU networks, and
  quadratic-activation networks across the width threshold.
"""
