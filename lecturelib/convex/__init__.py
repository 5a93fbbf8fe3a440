"""The convexified convolutional network (CCNN; Zhang, Liang & Wainwright 2017, "Convexified
convolutional neural networks", arXiv 1609.01000).

A two-layer linear CNN computes H(x)_k = tr(Z(x) A_k), where Z(x) stacks the patches z_p(x) of
the image as rows and A_k has rank at most r. Relaxing the rank constraint to a nuclear-norm ball
{||A||_* <= R} makes training convex.

* :mod:`~lecturelib.convex.patches`: the patch matrix Z(x), contrast normalisation, ZCA whitening;
* :mod:`~lecturelib.convex.projections`: the l1-ball (Duchi et al. 2008) and nuclear-ball projections;
* :mod:`~lecturelib.convex.features`: random Fourier features (Rahimi & Recht 2007) and the pooled
  patch features of a layer, streamed chunk by chunk;
* :mod:`~lecturelib.convex.ccnn`: projected SGD with averaging, the filters from the top singular
  vectors, and the input of the next layer.
"""

from lecturelib.convex.ccnn import (CCNNFit, ccnn_filters, ccnn_loss_and_gradient, ccnn_scores, fit_ccnn,
                                    linear_cnn_weight, next_layer_input, project_weight)
from lecturelib.convex.features import KERNELS, PatchKernelFeatures, RandomFourierFeatures, rbf_kernel
from lecturelib.convex.patches import extract_patches, normalize_patches, zca_from_covariance, zca_whitening_matrix
from lecturelib.convex.projections import nuclear_norm, project_l1_ball, project_nuclear_ball

__all__ = ["CCNNFit", "linear_cnn_weight", "ccnn_filters", "ccnn_loss_and_gradient", "ccnn_scores", "fit_ccnn", "next_layer_input",
           "project_weight", "KERNELS", "PatchKernelFeatures", "RandomFourierFeatures", "rbf_kernel",
           "extract_patches", "normalize_patches", "zca_whitening_matrix", "zca_from_covariance", "nuclear_norm", "project_l1_ball",
           "project_nuclear_ball"]
