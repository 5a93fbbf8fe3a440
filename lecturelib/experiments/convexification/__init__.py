"""The runs of the convexification chapter (``book/convexification``), one module per part:

- :mod:`~lecturelib.experiments.convexification.table1`: the lectures' Table 1 (Zhang, Liang &
  Wainwright 2017) at laptop scale: CNN-1, CCNN-1, CNN-2 (ReLU and Quad), CCNN-2 and an RBF SVM on
  the five MNIST variations.
"""
