r"""Curvature of the training loss: the Hessian as a linear map, applied by exact Hessian-vector products.

For a model :math:`m(x;\theta)` with :math:`P` parameters and data :math:`\{(x_i, y_i)\}_{i=1}^N`,
the average loss is :math:`f(\theta) = \frac1N\sum_i f_i(\theta)` with
:math:`f_i(\theta) = L(m(x_i;\theta), y_i)`, and its Hessian is
:math:`H = \nabla^2 f(\theta) \in \mathbb{R}^{P\times P}`. ``H`` is never formed: every routine
of :mod:`lecturelib.hessian` needs only products :math:`Hv`, computed exactly in about the cost of
two gradients by differentiating the gradient along :math:`v` (Pearlmutter 1994).

The operator evaluates the model in evaluation mode, treats ``loss_fn`` as a *mean* over the
batch (PyTorch's default reduction; cross-entropy for integer targets and squared error for
float targets unless given), and runs where the model's parameters are. Parameters are flat
vectors in the order of :func:`lecturelib.params.vector`.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vmap

from .. import params
from .._checks import check_callable, check_finite_tensor, check_int, check_module, check_targets, check_tensor
from ..losses import default_loss

__all__ = ["HessianOperator", "hessian_vector_product", "check_data", "eval_mode"]


def check_data(model, X, y, loss_fn):
    """What every entry point checks once: a model with trainable parameters, finite data with one
    target per sample, and (for the default losses) labels or target shapes that fit its outputs."""
    check_module("model", model)
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model has no trainable parameters (requires_grad=True); there is no Hessian to take")
    check_tensor("X", X, min_ndim=1, nonempty=True)
    check_tensor("y", y)
    if y.dim() == 0 or len(y) != len(X):
        raise ValueError(f"y must have one target per row of X ({len(X)}), got shape {tuple(y.shape)}")
    check_finite_tensor("X", X)
    check_finite_tensor("y", y)
    if loss_fn is not None:
        check_callable("loss_fn", loss_fn)


@contextmanager
def eval_mode(model):
    """Run a block with ``model`` in evaluation mode, then restore its mode."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


class HessianOperator:
    r"""The Hessian :math:`H = \nabla^2_\theta \frac1N\sum_i L(m(x_i;\theta), y_i)` as a linear map.

    ``H @ v`` (or :meth:`matvec`) takes a flat vector ``(P,)`` or a stack ``(k, P)`` and returns
    :math:`Hv` of the same shape, in float64. Products are exact (Pearlmutter 1994): the
    directional derivative of the gradient, :math:`Hv = \frac{d}{dt}\nabla f(\theta + t v)|_{t=0}`.
    With all the data in one chunk (the default), the gradient's graph is built once and each
    product is one backward pass through it (reverse-over-reverse, as in PyHessian), a stack of
    vectors being one batched backward pass. ``batch_size`` splits the data into chunks
    (:math:`H = \sum_b \frac{N_b}{N} H_b`) to bound memory; each chunk's products are then
    recomputed by forward-over-reverse differentiation (``jvp`` of ``grad``, ``vmap`` over vectors).
    """

    def __init__(self, model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn=None,
                 batch_size: int | None = None):
        check_data(model, X, y, loss_fn)
        if batch_size is not None:
            check_int("batch_size", batch_size, minimum=1)
        self.model = model
        self.loss_fn = loss_fn or default_loss(y)
        self.trainable = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
        self.frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
        self.buffers = dict(model.named_buffers())
        self.theta = params.vector(model)  # (P,)
        self.size = self.theta.numel()
        self.dtype, self.device = self.theta.dtype, self.theta.device
        X = X.to(self.device)
        self.X = X.to(self.dtype) if torch.is_floating_point(X) else X
        y = y.to(self.device)
        self.y = y.to(self.dtype) if torch.is_floating_point(y) else y
        self.batch_size = batch_size or len(X)
        if loss_fn is None:  # the targets must fit the outputs, checked on the first sample
            with torch.no_grad(), eval_mode(model):
                check_targets("y", self.y, model(self.X[:1]))
        self._forward_mode = True
        self._gradient_graph = None  # (leaf, gradient with graph), built on the first product

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """Flat ``(P,)`` vector -> ``{name: tensor}`` shaped like the model's trainable parameters
        (:func:`lecturelib.params.unflatten`), with the frozen ones added as they are."""
        return {**params.unflatten(theta, self.trainable), **self.frozen}

    def loss_at(self, theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The mean loss on ``(X, y)`` at the flat parameters ``theta``, as a differentiable scalar."""
        output = functional_call(self.model, (self.unflatten(theta), self.buffers), (X,))
        return self.loss_fn(output, y)

    def loss(self, theta: torch.Tensor | None = None) -> float:
        """Mean loss over all the data at ``theta`` (default: the model's parameters)."""
        theta = self.theta if theta is None else theta.to(self.device, self.dtype)
        total = 0.0
        with torch.no_grad(), eval_mode(self.model):
            for start in range(0, len(self.X), self.batch_size):
                xb, yb = self.X[start:start + self.batch_size], self.y[start:start + self.batch_size]
                total += float(self.loss_at(theta, xb, yb)) * len(xb)
        return total / len(self.X)

    def gradient(self, theta: torch.Tensor | None = None) -> torch.Tensor:
        r""":math:`\nabla f(\theta)` as a flat float64 vector ``(P,)``."""
        theta = self.theta if theta is None else theta.to(self.device, self.dtype)
        total = torch.zeros(self.size, dtype=torch.float64, device=self.device)
        with eval_mode(self.model):
            for start in range(0, len(self.X), self.batch_size):
                xb, yb = self.X[start:start + self.batch_size], self.y[start:start + self.batch_size]
                total += grad(self.loss_at)(theta, xb, yb).double() * (len(xb) / len(self.X))
        return total

    def matvec(self, vectors: torch.Tensor) -> torch.Tensor:
        """:math:`Hv` for ``vectors`` of shape ``(P,)`` or ``(k, P)``; float64, same shape."""
        if not isinstance(vectors, torch.Tensor):
            raise TypeError(f"vectors must be a torch.Tensor, got {type(vectors).__name__}")
        if vectors.dim() not in (1, 2) or vectors.shape[-1] != self.size:
            raise ValueError(f"vectors must have shape ({self.size},) or (k, {self.size}), got {tuple(vectors.shape)}")
        single = vectors.dim() == 1
        V = vectors.reshape(-1, self.size).to(self.device, self.dtype)  # (k, P)
        if self.batch_size >= len(self.X):  # one chunk: differentiate the stored gradient graph
            result = self._graph_products(V).double()
            return result[0] if single else result
        total = torch.zeros(V.shape, dtype=torch.float64, device=self.device)
        with eval_mode(self.model):
            for start in range(0, len(self.X), self.batch_size):
                xb, yb = self.X[start:start + self.batch_size], self.y[start:start + self.batch_size]
                gradient = grad(lambda theta: self.loss_at(theta, xb, yb))
                total += self._products(gradient, V).double() * (len(xb) / len(self.X))
        return total[0] if single else total

    __matmul__ = matvec

    def _graph_products(self, V):
        """Reverse-over-reverse with the gradient's graph built once (as PyHessian does): each
        product is one backward pass through :math:`\\nabla f`, batched over the rows of ``V``."""
        if self._gradient_graph is None:
            leaf = self.theta.clone().requires_grad_(True)
            with torch.enable_grad(), eval_mode(self.model):
                gradient, = torch.autograd.grad(self.loss_at(leaf, self.X, self.y), leaf, create_graph=True)
            self._gradient_graph = (leaf, gradient)
        leaf, gradient = self._gradient_graph
        if not gradient.requires_grad:  # the loss is linear in the parameters: H = 0
            return torch.zeros_like(V)
        if len(V) <= 4 or leaf.device.type != "cuda":
            # On the CPU (and for a few vectors anywhere) one backward pass per vector is faster
            # than a batched one: 2.5x on the 79k-parameter benchmark model.
            return torch.stack([torch.autograd.grad(gradient, leaf, v, retain_graph=True)[0] for v in V])
        return torch.autograd.grad(gradient, leaf, V, retain_graph=True, is_grads_batched=True)[0]

    def _products(self, gradient, V):
        """``vmap`` of one product per row of ``V`` ``(k, P)``: forward-over-reverse (a ``jvp`` of the
        gradient), or reverse-over-reverse (the gradient of :math:`\\nabla f^Tv`) for losses whose
        forward-mode derivative torch lacks (``F.mse_loss`` in torch 2.x raises "ZeroTensors are
        immutable"); both are exact."""
        if self._forward_mode:
            try:
                return vmap(lambda v: jvp(gradient, (self.theta,), (v,))[1])(V)
            except RuntimeError as error:
                if "ZeroTensor" not in str(error):
                    raise
                self._forward_mode = False
        return vmap(lambda v: grad(lambda theta: (gradient(theta) * v).sum())(self.theta))(V)

    def dense(self) -> torch.Tensor:
        """The full ``(P, P)`` Hessian, column by column from products with the unit vectors
        (for small models and tests)."""
        eye = torch.eye(self.size, dtype=torch.float64, device=self.device)
        columns = torch.cat([self.matvec(eye[i:i + 256]) for i in range(0, self.size, 256)])
        return 0.5 * (columns + columns.T)


def hessian_vector_product(model: nn.Module, X: torch.Tensor, y: torch.Tensor, vector: torch.Tensor,
                           loss_fn=None) -> torch.Tensor:
    r"""Pearlmutter's (1994) exact product :math:`Hv` with the Hessian of the mean loss.

    ``vector`` is flat, ``(P,)`` (or ``(k, P)``), in the order of :func:`lecturelib.params.vector`.
    Returns a float64 tensor of the same shape. See :class:`HessianOperator`.
    """
    return HessianOperator(model, X, y, loss_fn).matvec(vector)
