"""The runs of the regularisation chapter (``book/regularisation``), one module per part:

- :mod:`~lecturelib.experiments.regularisation.overparameterisation`: width sweeps, interpolants and the
  norm of the weights (the lecture's 30x5 residual experiment);
- :mod:`~lecturelib.experiments.regularisation.penalties`: L2 and L1, augmentation, input noise and early
  stopping;
- :mod:`~lecturelib.experiments.regularisation.ensembles`: multi-task learning, ensembles, averaging and
  dropout.
"""
