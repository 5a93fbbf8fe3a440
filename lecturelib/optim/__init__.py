"""The lecture's optimisers, learning-rate schedules, test functions and trajectories.

``from lecturelib import optim``, then e.g. ``optim.Adam(model.parameters(), lr=1e-3)``,
``train.fit(model, data, optimizer=functools.partial(optim.AdamW, weight_decay=0.1),
schedule=optim.StepDecay(every=100))`` or
``optim.trajectory(optim.ravine(), functools.partial(optim.SGD, lr=0.02, momentum=0.9), (-2.5, 1.0), 100)``.

* :mod:`~lecturelib.optim.optimizers`: ``SGD``, ``AdaGrad``, ``RMSProp``, ``Adam``, ``AdamW``,
  written out from their update formulas and equal to their ``torch.optim`` counterparts;
* :mod:`~lecturelib.optim.schedules`: ``StepDecay``, ``MultiStepDecay``, ``ExponentialDecay``, ``InverseTimeDecay``,
  ``CosineWarmRestarts``, ``WarmupLinearDecay``;
* :mod:`~lecturelib.optim.functions`: ``TestFunction`` and ``ravine``, ``rosenbrock``, ``saddle``,
  ``monkey_saddle``, ``plateau``, ``basins_1d`` (``FUNCTIONS``: name -> function);
* :mod:`~lecturelib.optim.trajectory`: ``trajectory`` and ``Trajectory``.
"""

from .functions import (FUNCTIONS, TestFunction, basins_1d, monkey_saddle, plateau, ravine, rosenbrock,
                        saddle)
from .optimizers import SGD, AdaGrad, Adam, AdamW, RMSProp
from .schedules import (CosineWarmRestarts, ExponentialDecay, InverseTimeDecay, MultiStepDecay, StepDecay,
                        WarmupLinearDecay)
from .trajectory import Trajectory, trajectory

__all__ = ["SGD", "AdaGrad", "RMSProp", "Adam", "AdamW",
           "StepDecay", "MultiStepDecay", "ExponentialDecay", "InverseTimeDecay", "CosineWarmRestarts", "WarmupLinearDecay",
           "TestFunction", "ravine", "rosenbrock", "saddle", "monkey_saddle", "plateau", "basins_1d", "FUNCTIONS",
           "Trajectory", "trajectory"]
