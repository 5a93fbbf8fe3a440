"""What a network is, in every representation the book uses.

- :mod:`~lecturelib.models.mlp`: the lectures' fully connected model :class:`MLP` and the
  activation registry.
- :mod:`~lecturelib.models.dropout`: :func:`dropout` and :class:`Dropout` in the lecture's
  keep-probability convention, inverted or vanilla (Srivastava et al. 2014).
- :mod:`~lecturelib.models.functional`: the same network as plain tensors, :class:`Network`
  (what the written-out backpropagation and the Lipschitz bounds read), and random ones.
- :mod:`~lecturelib.models.convnets`: small CNNs, the residual networks of He et al. (2016) and
  Li et al.'s (2018) VGG-9.
- :mod:`~lecturelib.models.shallow_cnn`: :class:`ShallowCNN`, the baselines CNN-1 and CNN-2 of
  Zhang, Liang & Wainwright (2017), ReLU or quadratic activation (:func:`cnn1`, :func:`cnn2`).
- :mod:`~lecturelib.models.stacked`: :class:`StackedMLP`, several MLPs of any widths and depths
  trained together in one batched step.
- :mod:`~lecturelib.models.surgery`: function-preserving maps (Dinh et al.'s rescaling, residual
  embedding).

``from lecturelib import models; models.MLP(...)`` reaches everything listed here.
"""

from .convnets import CIFAR_DEPTHS, VGG, BasicBlock, ResNet, SmallCNN, cifar_resnet, vgg9
from .dropout import Dropout, dropout
from .functional import Network, as_network, network_from_mlp, random_network, scaled_activation
from .mlp import (ACTIVATIONS, MLP, MLP_NORMS, ActivationSpec, Maxout, activation_names, count_parameters,
                  get_activation, square_hidden_layers)
from .shallow_cnn import PAPER_FILTERS, SHALLOW_ACTIVATIONS, ShallowCNN, cnn1, cnn2
from .stacked import StackedMLP, repeated_layers
from .surgery import embed_residual, rescale_layers

__all__ = ["ACTIVATIONS", "ActivationSpec", "Maxout", "MLP", "MLP_NORMS", "activation_names", "get_activation",
           "count_parameters", "square_hidden_layers",
           "Network", "as_network", "network_from_mlp", "random_network", "scaled_activation",
           "BasicBlock", "ResNet", "SmallCNN", "cifar_resnet", "CIFAR_DEPTHS", "VGG", "vgg9", "rescale_layers", "embed_residual",
           "StackedMLP", "repeated_layers", "dropout", "Dropout",
           "ShallowCNN", "cnn1", "cnn2", "PAPER_FILTERS", "SHALLOW_ACTIVATIONS"]
