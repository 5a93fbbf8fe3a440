"""The runs of the optimisers chapter (``book/optimisers``), one module per part of the chapter:

- :mod:`~lecturelib.experiments.optimisers.descent`: gradient descent on test functions, basins,
  saddles, minibatch-gradient noise, momentum and Nesterov;
- :mod:`~lecturelib.experiments.optimisers.adaptive`: AdaGrad, RMSProp, Adam, weight decay and
  learning-rate schedules on real networks.
"""
