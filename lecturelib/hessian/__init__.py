r"""Curvature of the training loss from exact Hessian-vector products :math:`Hv` (Pearlmutter 1994).

- :mod:`~lecturelib.hessian.operator`: :class:`HessianOperator`, the Hessian of the mean loss as
  a linear map, and :func:`hessian_vector_product`;
- :mod:`~lecturelib.hessian.spectrum`: Lanczos, power iteration, the top eigenvalues, Hutchinson's
  trace and the spectral density by stochastic Lanczos quadrature;
- :mod:`~lecturelib.hessian.flatness`: Keskar et al.'s sharpness and per-sample gradient norms.

Every routine evaluates the model in evaluation mode and runs where its parameters are. Dinh et
al.'s rescaling, which keeps the function and changes the curvature, is
:func:`lecturelib.models.surgery.rescale_layers`. ``from lecturelib import hessian`` reaches
everything listed here.
"""

from .flatness import Sharpness, keskar_sharpness, per_sample_gradient_norms, per_sample_gradients
from .operator import HessianOperator, hessian_vector_product
from .spectrum import (SpectralDensity, TraceEstimate, hessian_trace, lanczos, operator_top_eigenvalues,
                       spectral_density, top_eigenvalues)

__all__ = ["HessianOperator", "hessian_vector_product", "top_eigenvalues", "operator_top_eigenvalues",
           "hessian_trace", "TraceEstimate", "spectral_density", "SpectralDensity", "lanczos", "keskar_sharpness",
           "Sharpness", "per_sample_gradients", "per_sample_gradient_norms"]
