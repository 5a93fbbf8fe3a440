r"""Table 4 of Zhang, Liang & Wainwright (2017) at laptop scale: convexify the top convolution layer
of a trained CNN and compare test errors.

A CNN with :math:`L` layers (:class:`lecturelib.models.ShallowCNN`: convolution, activation, 2x2
average pooling per layer, then a linear read-out) is trained by Adam, one run per seed, through
:func:`lecturelib.cache.cached_run`. Its first :math:`L - 1` layers are then frozen: they map an
image :math:`x` to the maps :math:`h^{(L-1)}(x)`, shape ``(r, h, w)``. The top convolution layer
and the read-out are replaced by one CCNN layer (:mod:`lecturelib.convex`) trained on those maps:

.. math::

    f_k(x) = \operatorname{tr}\big(Z(h^{(L-1)}(x))^\top A_k\big), \qquad
    \min_{\|A\|_* \le R} \frac1n \sum_i \Big[\log \sum_k e^{f_k(x_i)} - f_{y_i}(x_i)\Big],

with :math:`Z` the pooled random Fourier features of the RBF kernel on the maps' patches. Since
:math:`h^{(L-1)}` is fixed, :math:`Z(h^{(L-1)}(x))` is a fixed input and the program is convex in
:math:`A`. It is solved by full-batch projected gradient, :math:`A \leftarrow \Pi_R(A - \eta\nabla
L(A))` from :math:`A = 0`, whose objective never increases for :math:`\eta \le 1/\mathrm{Lip}`
(the lectures' Fig. 4 shows the same monotone decrease for projected SGD on CIFAR-10).

The laptop setting is CNN-2 (16 and 32 filters of 5x5 pixels) on the bundled digits resized to
20x20 (:func:`lecturelib.data.mnist_variation`, variant ``basic``); under ``LECTURELIB_SCALE=full``
it is a CNN-3 on CIFAR-10 read from ``LECTURELIB_DATA`` (:func:`lecturelib.data.load_cifar10`),
with 3x3 filters so that three unpadded layers fit in 32x32 images (the paper pads).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from ... import cache, convex, models
from ..._checks import check_int, check_positive, check_type
from ...data import DataSplit, load_cifar10, mnist_variation
from ...device import is_full_scale

__all__ = ["PAPER_TABLE4", "TopLayerSetting", "top_layer_setting", "top_layer_data", "cnn_spec", "frozen_features",
           "top_features", "convexify_top_layer", "TopLayerRun", "top_layer_run", "TopLayerResult",
           "top_layer_runs", "format_table4"]

# Zhang, Liang & Wainwright (2017), Table 4: CIFAR-10 test error in percent, (original, convexified)
PAPER_TABLE4 = {"CNN-1": (34.14, 23.62), "CNN-2": (24.98, 21.88), "CNN-3": (21.48, 18.18)}


@dataclass(frozen=True)
class TopLayerSetting:
    """Sizes and hyperparameters of one scale of the experiment (:func:`top_layer_setting`)."""

    source: str                    # "digits" (resized, basic variation) or "cifar10"
    n_train: int
    n_test: int
    size: int                      # image side in pixels
    filters: tuple[int, ...]       # filters per layer of the CNN; its last layer is convexified
    kernel_size: int
    seeds: tuple[int, ...]
    cnn_epochs: int
    cnn_lr: float
    batch_size: int
    ccnn_features: int             # random Fourier features of the CCNN layer
    ccnn_radius: float             # R, the nuclear-norm radius
    ccnn_lr: float                 # step of full-batch projected gradient
    ccnn_steps: int

    @property
    def name(self) -> str:
        """The CNN's name in the paper's Table 4, e.g. ``"CNN-2"``."""
        return f"CNN-{len(self.filters)}"

    def __post_init__(self):
        for name in ("n_train", "n_test", "cnn_epochs", "batch_size", "ccnn_features", "ccnn_steps"):
            check_int(name, getattr(self, name), minimum=1)
        for name in ("cnn_lr", "ccnn_radius", "ccnn_lr"):
            check_positive(name, getattr(self, name))
        if not self.seeds:
            raise ValueError("seeds must name at least one seed, got ()")


def top_layer_setting(full: bool | None = None, **changes) -> TopLayerSetting:
    """The laptop setting (CNN-2 on 800 resized digits) or, under ``LECTURELIB_SCALE=full`` (or
    ``full=True``), a CNN-3 on all of CIFAR-10 (module docstring), with the fields named in
    ``changes`` replaced (e.g. ``cnn_epochs=30``)."""
    full = is_full_scale() if full is None else check_type("full", full, bool, "True, False or None")
    unknown = sorted(set(changes) - {f.name for f in fields(TopLayerSetting)})
    if unknown:
        raise TypeError(f"top_layer_setting got unknown fields {unknown}; TopLayerSetting has "
                        f"{[f.name for f in fields(TopLayerSetting)]}")
    return replace(_full_setting() if full else _laptop_setting(), **changes)


def _full_setting() -> TopLayerSetting:
    return TopLayerSetting(source="cifar10", n_train=50_000, n_test=10_000, size=32, filters=(32, 32, 64),
                           kernel_size=3, seeds=(0, 1, 2), cnn_epochs=30, cnn_lr=1e-3, batch_size=128,
                           ccnn_features=2000, ccnn_radius=100.0, ccnn_lr=1.0, ccnn_steps=500)


def _laptop_setting() -> TopLayerSetting:
    return TopLayerSetting(source="digits", n_train=800, n_test=500, size=20, filters=(16, 32), kernel_size=5,
                           seeds=(0, 1, 2), cnn_epochs=10, cnn_lr=3e-3, batch_size=50, ccnn_features=200,
                           ccnn_radius=60.0, ccnn_lr=1.5, ccnn_steps=100)


def top_layer_data(setting: TopLayerSetting) -> DataSplit:
    """The images of ``setting``: the ``basic`` digits variation (data seed 0) or CIFAR-10 (the
    first ``n_train`` training and ``n_test`` test images)."""
    check_type("setting", setting, TopLayerSetting, "a TopLayerSetting")
    if setting.source == "digits":
        return mnist_variation("basic", setting.n_train, setting.n_test, size=setting.size, seed=0,
                               source="digits")
    cifar = load_cifar10()
    return DataSplit(cifar.X_train[:setting.n_train], cifar.y_train[:setting.n_train],
                     cifar.X_test[:setting.n_test], cifar.y_test[:setting.n_test], cifar.description)


def cnn_spec(split: DataSplit, setting: TopLayerSetting, seed: int) -> cache.RunSpec:
    """The run of the setting's CNN on ``split`` with ``seed`` (initialisation and minibatch order)."""
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    check_type("setting", setting, TopLayerSetting, "a TopLayerSetting")
    builder = functools.partial(models.ShallowCNN, tuple(split.X_train.shape[1:]), 10, setting.filters, "relu",
                                setting.kernel_size)
    return cache.RunSpec(name=f"ccnn-top-layer-{setting.name.lower()}", data=split, model=builder,
                         optimizer="adam", lr=setting.cnn_lr, epochs=setting.cnn_epochs,
                         batch_size=setting.batch_size, seed=seed, eval_every=setting.cnn_epochs)


@torch.no_grad()
def frozen_features(model: models.ShallowCNN, images: torch.Tensor, chunk_size: int = 512) -> torch.Tensor:
    """h^{(L-1)}(x): the maps below the top convolution layer, (N, C, H, W) -> (N, r, h, w) on the CPU.

    Computed chunk by chunk on the model's device, with no gradient; for a one-layer CNN (CNN-1)
    this is the image itself.
    """
    check_type("model", model, models.ShallowCNN, "a lecturelib.models.ShallowCNN")
    chunk_size = check_int("chunk_size", chunk_size, minimum=1)
    where = next(model.parameters()).device
    layers = len(model.convs) - 1
    return torch.cat([model.features(chunk.to(where), layers=layers).cpu() for chunk in images.split(chunk_size)])


def top_features(maps: torch.Tensor, setting: TopLayerSetting) -> convex.PatchKernelFeatures:
    """The CCNN layer's input map on ``maps`` (N, r, h, w): patches of the top layer's filter size,
    2x2 pooling, ``ccnn_features`` random features (seed 0), fitted on ``maps``."""
    check_type("setting", setting, TopLayerSetting, "a TopLayerSetting")
    return convex.PatchKernelFeatures(maps.shape[1], tuple(maps.shape[2:]), patch_size=setting.kernel_size,
                                      pool=2, n_features=setting.ccnn_features, seed=0).fit(maps)


def convexify_top_layer(model: models.ShallowCNN, split: DataSplit, setting: TopLayerSetting) -> convex.CCNNFit:
    """Freeze all but the top convolution layer of ``model`` and train a CCNN layer on their output
    by full-batch projected gradient (module docstring). ``model`` is left unchanged."""
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    maps = frozen_features(model, split.X_train)                            # (N, r, h, w)
    return convex.fit_ccnn(top_features(maps, setting), maps, split.y_train, n_classes=10,
                           radius=setting.ccnn_radius, lr=setting.ccnn_lr, epochs=setting.ccnn_steps,
                           batch_size=None, in_memory=True, chunk_size=1024)


@dataclass(frozen=True)
class TopLayerRun:
    """One seed: the trained CNN's test error and that of the CNN with its top layer convexified."""

    seed: int
    cnn_error: float
    ccnn_error: float
    ccnn_train_error: float
    objective: tuple[float, ...]   # L(A) at every iterate of projected gradient, A = 0 first
    singular_values: np.ndarray    # of the (K Q, m) matrix A, descending
    radius: float


def top_layer_run(split: DataSplit, setting: TopLayerSetting, seed: int) -> TopLayerRun:
    """Train (or load) the CNN of ``seed``, convexify its top layer, and measure both."""
    run = cache.cached_run(cnn_spec(split, setting, seed))
    fit = convexify_top_layer(run.model, split, setting)
    test_maps = frozen_features(run.model, split.X_test)
    train_maps = frozen_features(run.model, split.X_train)
    return TopLayerRun(seed=seed, cnn_error=1.0 - run.history.test_accuracy[-1],
                       ccnn_error=fit.error(test_maps, split.y_test),
                       ccnn_train_error=fit.error(train_maps, split.y_train),
                       objective=tuple(fit.objective), singular_values=fit.singular_values().cpu().double().numpy(),
                       radius=fit.radius)


@dataclass(frozen=True)
class TopLayerResult:
    """The runs of every seed of ``setting``."""

    setting: TopLayerSetting
    runs: tuple[TopLayerRun, ...]

    @property
    def cnn_errors(self) -> np.ndarray:
        """Test error of the original CNN per seed, shape ``(S,)``."""
        return np.array([r.cnn_error for r in self.runs])

    @property
    def ccnn_errors(self) -> np.ndarray:
        """Test error with the top layer convexified, per seed, shape ``(S,)``."""
        return np.array([r.ccnn_error for r in self.runs])


def top_layer_runs(setting: TopLayerSetting, split: DataSplit | None = None) -> TopLayerResult:
    """:func:`top_layer_run` for every seed of ``setting`` (on :func:`top_layer_data` by default)."""
    check_type("setting", setting, TopLayerSetting, "a TopLayerSetting")
    split = top_layer_data(setting) if split is None else check_type("split", split, DataSplit,
                                                                     "a lecturelib.data.DataSplit")
    return TopLayerResult(setting, tuple(top_layer_run(split, setting, seed) for seed in setting.seeds))


def format_table4(result: TopLayerResult) -> str:
    """Original and convexified test errors in percent, 'mean (spread over seeds)', beside the paper's."""
    check_type("result", result, TopLayerResult, "a TopLayerResult")
    name = result.setting.name
    lines = [f"{'':12s}{'ours: ' + name + ' on ' + result.setting.source:>28s}"
             + "".join(f"{'paper ' + k:>13s}" for k in PAPER_TABLE4)]
    for label, errors, column in (("Original", result.cnn_errors, 0), ("Convexified", result.ccnn_errors, 1)):
        ours = f"{100 * errors.mean():.1f} ({100 * np.ptp(errors):.1f})"
        lines.append(f"{label:12s}{ours:>28s}" + "".join(f"{v[column]:13.2f}" for v in PAPER_TABLE4.values()))
    return "\n".join(lines)
