"""A convexified CNN layer trained by projected stochastic gradient (Zhang, Liang & Wainwright 2017).

With the pooled patch features Z(x) in R^{Q x m} of an image (:class:`PatchKernelFeatures`), a
two-layer CNN with r filters computes the class scores

    f_k(x) = tr(Z(x)^T A_k) = sum_{q, j} Z(x)_{q j} (A_k)_{q j},     k = 1, ..., K,

where the matrix A = [A_1; ...; A_K] in R^{KQ x m} (the A_k stacked as rows) has rank at most r:
row (k, q) of A is sum_j alpha_{k,j,q} w_j^T, with w_j in R^m the filters. The CCNN drops the
rank constraint for the nuclear-norm ball ||A||_* <= R, so that minimising the multinomial
logistic loss

    L(A) = (1/n) sum_i [ log sum_k exp f_k(x_i) - f_{y_i}(x_i) ]

is a convex program. :func:`fit_ccnn` solves it by projected (stochastic) gradient with iterate
averaging, streaming the features chunk by chunk; :func:`ccnn_filters` recovers r filters from
the top right singular vectors of A, and :func:`next_layer_input` applies them, which is how
CCNN layers are stacked one at a time (Algorithm 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from lecturelib import _checks
from lecturelib.convex.features import PatchKernelFeatures
from lecturelib.convex.projections import project_nuclear_ball
from lecturelib.device import resolve_device
from lecturelib.train.progress import progress_over

__all__ = ["CCNNFit", "linear_cnn_weight", "ccnn_scores", "ccnn_loss_and_gradient", "project_weight", "fit_ccnn",
           "ccnn_filters", "next_layer_input"]


def linear_cnn_weight(filters: torch.Tensor, readout: torch.Tensor) -> torch.Tensor:
    """The matrix of a two-layer linear CNN: A_k = sum_j w_j alpha_{k,j}^T, as (K, P, m).

    ``filters`` (r, C, s, s) are the w_j, ``readout`` (K, r, P) the alpha_{k,j,p}; then
    sum_j sum_p alpha_{k,j,p} w_j^T z_p(x) = tr(Z(x)^T A_k) (:func:`ccnn_scores`), and the (KP, m)
    matricisation of A is a sum of r outer products, so its rank is at most r.
    """
    _checks.check_tensor("filters", filters, ndim=4, floating=True, finite=True)
    _checks.check_tensor("readout", readout, ndim=3, floating=True, finite=True)
    if readout.shape[1] != filters.shape[0]:
        raise ValueError(f"readout must have shape (K, {filters.shape[0]}, P) for {filters.shape[0]} filters, "
                         f"got {tuple(readout.shape)}")
    return torch.einsum("kjp,jd->kpd", readout, filters.flatten(1))


def ccnn_scores(weight: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
    """f_k(x_i) = tr(Z(x_i)^T A_k): weight (K, Q, m), Z (N, Q, m) -> scores (N, K)."""
    return Z.flatten(1) @ weight.flatten(1).T                              # (N, Qm) @ (Qm, K)


def ccnn_loss_and_gradient(weight: torch.Tensor, Z: torch.Tensor, labels: torch.Tensor
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """The summed multinomial logistic loss over the rows of Z and its gradient in A.

    With p_i = softmax(f(x_i)), d/dA_k sum_i loss_i = sum_i (p_ik - [y_i = k]) Z(x_i). Returns the
    sums (not means) so that chunks add up: (loss, gradient of shape (K, Q, m)).
    """
    scores = ccnn_scores(weight, Z)                                        # (N, K)
    loss = F.cross_entropy(scores, labels, reduction="sum")
    residual = torch.softmax(scores, dim=1)
    residual[torch.arange(len(labels), device=labels.device), labels] -= 1  # p - onehot
    return loss, (residual.T @ Z.flatten(1)).reshape(weight.shape)         # (K, N) @ (N, Qm)


def project_weight(weight: torch.Tensor, radius: float) -> torch.Tensor:
    """Project the (K, Q, m) weight onto {||A||_* <= radius} with A its (KQ, m) matricisation."""
    K, Q, m = weight.shape
    return project_nuclear_ball(weight.reshape(K * Q, m), radius).reshape(K, Q, m)


@dataclass
class CCNNFit:
    """A trained CCNN layer: ``weight`` (K, Q, m) is the averaged iterate, inside the ball.

    ``objective`` holds L(A) at every iterate of full-batch projected gradient, or the mean
    mini-batch loss of each epoch of projected SGD (a running estimate, not L at one iterate).
    """

    features: PatchKernelFeatures
    weight: torch.Tensor
    radius: float
    objective: list[float] = field(default_factory=list)
    steps: int = 0

    def scores(self, images: torch.Tensor, chunk_size: int = 256) -> torch.Tensor:
        """Class scores (N, K) of ``images``, features streamed chunk by chunk."""
        return torch.cat([ccnn_scores(self.weight, Z.to(self.weight))
                          for _, Z in self.features.stream(images, chunk_size)])

    def error(self, images: torch.Tensor, labels: torch.Tensor, chunk_size: int = 256) -> float:
        """The fraction of ``images`` whose highest score is not their label."""
        predicted = self.scores(images, chunk_size).argmax(dim=1).cpu()
        return float((predicted != labels.cpu()).double().mean())

    def loss(self, images: torch.Tensor, labels: torch.Tensor, chunk_size: int = 256) -> float:
        """L(A) of the fitted weight on (images, labels)."""
        return float(F.cross_entropy(self.scores(images, chunk_size), labels.to(self.weight.device)))

    def singular_values(self) -> torch.Tensor:
        K, Q, m = self.weight.shape
        return torch.linalg.svdvals(self.weight.reshape(K * Q, m))


def _check_fit_arguments(features, images, labels, n_classes, radius, lr, epochs, batch_size,
                         project_every, average_from, chunk_size):
    _checks.check_type("features", features, PatchKernelFeatures)
    features._check_images(images)
    n_classes = _checks.check_int("n_classes", n_classes, minimum=2)
    _checks.check_labels("labels", labels, n_classes)
    _checks.check_same_rows(("images", "labels"), images, labels)
    chunk_size = _checks.check_int("chunk_size", chunk_size, minimum=1)
    if batch_size is not None:
        _checks.check_int("batch_size", batch_size, minimum=1, maximum=chunk_size)
    _checks.check_real("average_from", average_from, minimum=0, maximum=1, open_max=True)
    return (n_classes, _checks.check_positive("radius", radius), _checks.check_positive("lr", lr),
            _checks.check_int("epochs", epochs, minimum=1), _checks.check_int("project_every", project_every, minimum=1))


def fit_ccnn(features: PatchKernelFeatures, images: torch.Tensor, labels: torch.Tensor, *,
             n_classes: int = 10, radius: float = 100.0, lr: float = 0.2, epochs: int = 10,
             batch_size: int | None = 50, project_every: int = 1, average_from: float = 0.5,
             chunk_passes: int = 1, seed: int = 0, init: torch.Tensor | None = None, chunk_size: int = 256,
             in_memory: bool = False, device=None, dtype: torch.dtype = torch.float32,
             progress: bool | None = None) -> CCNNFit:
    """Train a CCNN layer on fitted ``features`` by projected (stochastic) gradient.

    ``batch_size=None`` runs full-batch projected gradient descent, A <- Pi_R(A - lr grad L(A)),
    for ``epochs`` steps: deterministic, and for lr <= 1/L (L the gradient's Lipschitz constant)
    the objective never increases. An integer ``batch_size`` runs projected SGD as in the paper:
    each epoch visits the chunks of ``chunk_size`` consecutive images in a random order and,
    inside a chunk, mini-batches in a random order (from ``seed``); every ``project_every`` steps
    A is projected onto the ball; the returned weight is the average of the iterates after the
    first ``average_from`` fraction of the steps (Polyak-Ruppert tail averaging), projected once
    more (with ``project_every=1`` the average of projected iterates already lies in the convex ball). With ``chunk_passes = k > 1`` each visit of a chunk
    makes k passes over its mini-batches (a fresh order each) before the next chunk: ``epochs``
    visits then train for ``k * epochs`` passes over the data while computing the features only
    ``epochs`` times, which is what makes the streamed run as fast as the in-memory one.

    Features are computed chunk by chunk and dropped (``in_memory=False``, the streamed run), or
    computed once and kept, as the authors' implementation does (``in_memory=True``); both visit
    the same samples in the same order and give the same iterates. ``init`` (K, Q, m) starts from a
    given point (projected first); the default start is A = 0. A progress bar counts the steps or
    epochs of a run that lasts more than a few seconds (``progress=None`` follows
    ``LECTURELIB_PROGRESS``).
    """
    n_classes, radius, lr, epochs, project_every = _check_fit_arguments(
        features, images, labels, n_classes, radius, lr, epochs, batch_size, project_every,
        average_from, chunk_size)
    _checks.check_type("in_memory", in_memory, bool)
    chunk_passes = _checks.check_int("chunk_passes", chunk_passes, minimum=1)
    seed = _checks.check_seed("seed", seed)
    device = resolve_device(device)
    shape = (n_classes, features.n_positions, features.n_features)
    if init is None:
        weight = torch.zeros(shape, dtype=dtype, device=device)
    else:
        _checks.check_tensor("init", init, shape=shape, floating=True, finite=True)
        weight = project_weight(init.to(device=device, dtype=dtype), radius)
    features = features.to(device)
    images, labels = images.to(device), labels.to(device)
    chunks = [slice(s, min(s + chunk_size, len(images))) for s in range(0, len(images), chunk_size)]
    kept = [features(images[rows]).to(dtype) for rows in chunks] if in_memory else None

    def chunk_features(index):
        return kept[index] if kept is not None else features(images[chunks[index]]).to(dtype)

    fit = CCNNFit(features=features, weight=weight, radius=radius)
    if batch_size is None:
        steps = progress_over(range(epochs + 1), "projected gradient", unit="step", progress=progress)
        return _full_batch(fit, chunk_features, chunks, labels, lr, steps)
    passes = progress_over(range(epochs), "CCNN layer", unit="epoch", progress=progress)
    return _stochastic(fit, chunk_features, chunks, labels, lr, passes, batch_size, project_every,
                       average_from, seed, chunk_passes)


def _full_batch(fit, chunk_features, chunks, labels, lr, iterations):
    """``iterations`` is range(steps + 1), perhaps under a progress bar: L is recorded at every iterate."""
    n, steps = len(labels), len(iterations) - 1
    weight = fit.weight
    for step in iterations:
        loss, gradient = 0.0, torch.zeros_like(weight)
        for index, rows in enumerate(chunks):
            chunk_loss, chunk_gradient = ccnn_loss_and_gradient(weight, chunk_features(index), labels[rows])
            loss, gradient = loss + float(chunk_loss), gradient + chunk_gradient
        fit.objective.append(loss / n)
        if step < steps:
            weight = project_weight(weight - lr * gradient / n, fit.radius)
    fit.weight, fit.steps = weight, steps
    return fit


def _stochastic(fit, chunk_features, chunks, labels, lr, epochs, batch_size, project_every, average_from, seed,
                chunk_passes=1):
    """``epochs`` is range(epochs), perhaps under a progress bar."""
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = chunk_passes * sum(-(-(rows.stop - rows.start) // batch_size) for rows in chunks)
    total = len(epochs) * steps_per_epoch
    first_averaged = int(average_from * total)
    weight, average, averaged, step = fit.weight, torch.zeros_like(fit.weight), 0, 0
    for _ in epochs:
        running, seen = 0.0, 0
        for index in torch.randperm(len(chunks), generator=generator).tolist():
            Z, rows = chunk_features(index), chunks[index]
            orders = [torch.randperm(rows.stop - rows.start, generator=generator).to(Z.device)
                      for _ in range(chunk_passes)]
            for batch in (batch for order in orders for batch in order.split(batch_size)):
                loss, gradient = ccnn_loss_and_gradient(weight, Z[batch], labels[rows][batch])
                weight = weight - lr * gradient / len(batch)
                step += 1
                if step % project_every == 0 or step == total:
                    weight = project_weight(weight, fit.radius)
                running, seen = running + float(loss), seen + len(batch)
                if step > first_averaged:
                    averaged += 1
                    average += (weight - average) / averaged
        fit.objective.append(running / seen)
    fit.weight, fit.steps = project_weight(average, fit.radius), total
    return fit


def ccnn_filters(fit: CCNNFit, rank: int) -> torch.Tensor:
    """The r filters of a trained layer: the top ``rank`` right singular vectors of A, shape (r, m).

    A rank-r approximation A ~ U_r S_r V_r^T writes every row of A as a combination of the rows of
    V_r^T, so V_r's rows play the filters w_j of the CNN (in the kernel's feature space).
    """
    _checks.check_type("fit", fit, CCNNFit)
    K, Q, m = fit.weight.shape
    rank = _checks.check_int("rank", rank, minimum=1, maximum=min(K * Q, m))
    _, _, Vh = torch.linalg.svd(fit.weight.reshape(K * Q, m), full_matrices=False)
    return Vh[:rank]


@torch.no_grad()
def next_layer_input(features: PatchKernelFeatures, filters: torch.Tensor, images: torch.Tensor,
                     chunk_size: int = 256) -> torch.Tensor:
    """The layer's output as an r-channel image: H(x) = Z(x) V_r^T, shape (N, r, Q_H, Q_W).

    This is the input of the next CCNN layer when layers are stacked one at a time.
    """
    _checks.check_type("features", features, PatchKernelFeatures)
    _checks.check_tensor("filters", filters, shape=(None, features.n_features), floating=True, finite=True)
    outputs = [Z @ filters.to(Z).T for _, Z in features.stream(images, chunk_size)]   # (N, Q, r)
    H = torch.cat(outputs)
    return H.transpose(1, 2).reshape(len(images), len(filters), *features.pooled_grid)
