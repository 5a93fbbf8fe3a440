"""What a network is, in every representation the book uses.

- :mod:`~lecturelib.models.mlp`: the lectures' fully connected model :class:`MLP` and the
  activation registry.
- :mod:`~lecturelib.models.convnets`: small CNNs and the residual networks of He et al. (2016).

``from lecturelib import models; models.MLP(...)`` reaches everything listed here.
"""

from .convnets import CIFAR_DEPTHS, BasicBlock, ResNet, SmallCNN, cifar_resnet
from .mlp import (ACTIVATIONS, MLP, NORMS, ActivationSpec, Maxout, activation_names, count_parameters,
                  get_activation, square_hidden_layers)

__all__ = ["ACTIVATIONS", "ActivationSpec", "Maxout", "MLP", "NORMS", "activation_names", "get_activation",
           "count_parameters", "square_hidden_layers",
           "BasicBlock", "ResNet", "SmallCNN", "cifar_resnet", "CIFAR_DEPTHS"]
