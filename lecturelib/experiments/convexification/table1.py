r"""Table 1 of Zhang, Liang & Wainwright (2017) at laptop scale: test error on MNIST and its four
variations (:mod:`lecturelib.data.variations`) of CNN-1 (ReLU), CCNN-1, CNN-2 (ReLU), CNN-2 (Quad),
CCNN-2 and an RBF support vector machine, next to the paper's numbers (:data:`PAPER_TABLE1`).

* The CNNs (:mod:`lecturelib.models.shallow_cnn`) are trained by Adam on the cross-entropy, one
  run per seed (the seed fixes the initialisation and the minibatch order), through
  :func:`lecturelib.cache.cached_run`.
* CCNN-1 is one convexified layer (:mod:`lecturelib.convex`): random Fourier features of the RBF
  kernel on contrast-normalised, whitened 5x5 patches, 2x2 average pooling, and multinomial
  logistic regression on the nuclear-norm ball :math:`\|A\|_* \le R` fitted by projected SGD
  with iterate averaging. The seed of a CCNN run orders its minibatches; its random features are
  drawn once (seed 0), so every CCNN run of a variation solves the same convex program.
* CCNN-2 stacks a second convexified layer on the first (the paper's Algorithm 2): the 16 top
  right singular vectors of the first layer's :math:`A` act as its filters, and their output
  image is the second layer's input.
* SVM-rbf is scikit-learn's ``SVC`` (RBF kernel, ``gamma="scale"``) on the raw pixels.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ... import cache, convex, models
from ..._checks import check_choice, check_type
from ...data import VARIANTS, DataSplit, mnist_variation
from ...device import is_full_scale

__all__ = ["PAPER_TABLE1", "ROWS", "CNN_ROWS", "Table1Setting", "table1_setting", "variation_split", "cnn_spec",
           "cnn_errors", "svm_error", "CCNNRuns", "ccnn_runs", "Table1", "table1", "format_table1"]

# Zhang, Liang & Wainwright (2017), Table 1: test error in percent on basic, rand, rot, img, img+rot
PAPER_TABLE1 = {
    "SVM-rbf": (3.03, 14.58, 11.11, 22.61, 55.18),
    "CNN-1 (ReLU)": (3.37, 9.83, 18.84, 14.23, 45.96),
    "CCNN-1": (2.38, 7.45, 13.39, 10.40, 42.28),
    "CNN-2 (ReLU)": (2.11, 5.64, 8.27, 10.17, 32.43),
    "CNN-2 (Quad)": (1.75, 5.30, 8.83, 11.60, 36.90),
    "CCNN-2": (1.38, 4.32, 6.98, 7.46, 30.23),
}
ROWS = tuple(PAPER_TABLE1)
CNN_ROWS = {"CNN-1 (ReLU)": (models.cnn1, "relu"), "CNN-2 (ReLU)": (models.cnn2, "relu"),
            "CNN-2 (Quad)": (models.cnn2, "quad")}
CCNN_FILTERS = 16  # filters of the first layer, as in the paper's CNN-1 and CNN-2


@dataclass(frozen=True)
class Table1Setting:
    """Sizes and hyperparameters of one scale of the table (:func:`table1_setting`)."""

    n_train: int
    n_test: int
    size: int
    seeds: tuple[int, ...]
    cnn_epochs: int
    cnn_lr: float
    batch_size: int
    ccnn_features: tuple[int, int]  # random features of the first and second CCNN layer
    ccnn_radius: tuple[float, float]
    ccnn_epochs: int
    ccnn_lr: float
    svm_c: float
    source: str


def table1_setting(full: bool | None = None) -> Table1Setting:
    """The laptop setting (default) or the paper's sizes (10,000 training and 50,000 test images of
    28x28 pixels, real MNIST) under ``LECTURELIB_SCALE=full`` (or ``full=True``)."""
    full = is_full_scale() if full is None else check_type("full", full, bool, "True, False or None")
    if full:
        return Table1Setting(n_train=10_000, n_test=50_000, size=28, seeds=(0, 1, 2), cnn_epochs=30, cnn_lr=1e-3,
                             batch_size=50, ccnn_features=(200, 500), ccnn_radius=(100.0, 100.0), ccnn_epochs=10,
                             ccnn_lr=0.2, svm_c=10.0, source="mnist")
    return Table1Setting(n_train=800, n_test=500, size=20, seeds=(0, 1, 2), cnn_epochs=6, cnn_lr=3e-3,
                         batch_size=50, ccnn_features=(100, 200), ccnn_radius=(20.0, 20.0), ccnn_epochs=5,
                         ccnn_lr=0.2, svm_c=10.0, source="digits")


def variation_split(variant: str, setting: Table1Setting) -> DataSplit:
    """The ``variant`` of the setting's size (data seed 0: every model sees the same images)."""
    check_choice("variant", variant, VARIANTS)
    return mnist_variation(variant, setting.n_train, setting.n_test, size=setting.size, seed=0,
                           source=setting.source)


def cnn_spec(split: DataSplit, row: str, seed: int, setting: Table1Setting) -> cache.RunSpec:
    """The run of CNN ``row`` (a key of :data:`CNN_ROWS`) with ``seed`` on ``split``."""
    builder, activation = CNN_ROWS[check_choice("row", row, tuple(CNN_ROWS))]
    slug = row.lower().replace(" ", "").replace("(", "-").replace(")", "")
    return cache.RunSpec(name=f"ccnn-table1-{slug}", data=split,
                         model=functools.partial(builder, activation, tuple(split.X_train.shape[1:])),
                         optimizer="adam", lr=setting.cnn_lr, epochs=setting.cnn_epochs,
                         batch_size=setting.batch_size, seed=seed, eval_every=setting.cnn_epochs)


def cnn_errors(split: DataSplit, row: str, setting: Table1Setting) -> tuple[np.ndarray, np.ndarray]:
    """Test error and final training loss of CNN ``row`` for each of the setting's seeds, each ``(S,)``."""
    histories = [cache.cached_run(cnn_spec(split, row, s, setting)).history for s in setting.seeds]
    return (np.array([1.0 - h.test_accuracy[-1] for h in histories]), np.array([h.train_loss[-1] for h in histories]))


def svm_error(split: DataSplit, setting: Table1Setting) -> float:
    """Test error of ``SVC(kernel="rbf", C=setting.svm_c, gamma="scale")`` on the flattened pixels."""
    from sklearn.svm import SVC

    svm = SVC(kernel="rbf", C=setting.svm_c, gamma="scale")
    svm.fit(split.X_train.flatten(1).numpy(), split.y_train.numpy())
    return float(np.mean(svm.predict(split.X_test.flatten(1).numpy()) != split.y_test.numpy()))


@dataclass(frozen=True)
class CCNNRuns:
    """CCNN-1 on one variation for each optimiser seed, and CCNN-2 built on the first seed's layer."""

    errors_1: tuple[float, ...]      # test error of CCNN-1, one per seed
    objectives_1: tuple[float, ...]  # the training objective L(A) at CCNN-1's averaged iterate, one per seed
    error_2: float                   # test error of CCNN-2


def _features(images, n_features):
    return convex.PatchKernelFeatures(images.shape[1], images.shape[-1], patch_size=5, pool=2,
                                      n_features=n_features, seed=0).fit(images)


def _fit(features, images, labels, radius, setting, seed):
    return convex.fit_ccnn(features, images, labels, radius=radius, lr=setting.ccnn_lr, epochs=setting.ccnn_epochs,
                           batch_size=setting.batch_size, seed=seed, project_every=10, in_memory=True)


def ccnn_runs(split: DataSplit, setting: Table1Setting) -> CCNNRuns:
    """CCNN-1 on ``split`` for each of the setting's seeds (one set of random features), and CCNN-2
    on the first seed's CCNN-1 (module docstring)."""
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    features = _features(split.X_train, setting.ccnn_features[0])
    firsts = [_fit(features, split.X_train, split.y_train, setting.ccnn_radius[0], setting, s) for s in setting.seeds]
    filters = convex.ccnn_filters(firsts[0], CCNN_FILTERS)
    device = firsts[0].weight.device  # where fit_ccnn trained (and moved the features)
    hidden_train = convex.next_layer_input(features, filters, split.X_train.to(device))  # (N, 16, h, w)
    hidden_test = convex.next_layer_input(features, filters, split.X_test.to(device))
    second = _fit(_features(hidden_train, setting.ccnn_features[1]), hidden_train, split.y_train,
                  setting.ccnn_radius[1], setting, setting.seeds[0])
    weights = [f.weight for f in firsts]
    test_scores, train_scores = _scores(features, weights, split.X_test), _scores(features, weights, split.X_train)
    errors = tuple(float((scores.argmax(dim=1).cpu() != split.y_test).double().mean()) for scores in test_scores)
    objectives = tuple(float(F.cross_entropy(scores.cpu().double(), split.y_train)) for scores in train_scores)
    return CCNNRuns(errors, objectives, second.error(hidden_test, split.y_test))


def _scores(features, weights, images):
    """Class scores ``(N, K)`` of ``images`` under each weight, features streamed once for all of them."""
    device = weights[0].device
    chunks = [[] for _ in weights]
    for _, Z in features.stream(images.to(device)):
        for chunk, weight in zip(chunks, weights):
            chunk.append(convex.ccnn_scores(weight, Z.to(weight)))
    return [torch.cat(chunk) for chunk in chunks]


@dataclass(frozen=True)
class Table1:
    """Test errors (fractions) per row: an array ``(V, S)`` over variants and seeds (``S = 1`` for the SVM
    and CCNN-2)."""

    variants: tuple[str, ...]
    errors: dict[str, np.ndarray]
    train_losses: dict[str, np.ndarray]  # (V, S) final training loss of CNN-1 (ReLU), CNN-2 (ReLU), CNN-2 (Quad), CCNN-1

    def mean(self, row: str) -> np.ndarray:
        """Mean test error over seeds, per variant ``(V,)``."""
        return self.errors[row].mean(axis=1)

    def spread(self, row: str) -> np.ndarray:
        """Largest minus smallest test error over seeds, per variant ``(V,)``."""
        return np.ptp(self.errors[row], axis=1)


def table1(setting: Table1Setting, variants=VARIANTS) -> Table1:
    """Every row of :data:`ROWS` on every variant."""
    check_type("setting", setting, Table1Setting, "a Table1Setting")
    variants = tuple(check_choice("variants", v, VARIANTS) for v in variants)
    errors = {row: [] for row in ROWS}
    losses = {row: [] for row in (*CNN_ROWS, "CCNN-1")}
    for variant in variants:
        split = variation_split(variant, setting)
        errors["SVM-rbf"].append([svm_error(split, setting)])
        for row in CNN_ROWS:
            error, loss = cnn_errors(split, row, setting)
            errors[row].append(error)
            losses[row].append(loss)
        runs = ccnn_runs(split, setting)
        errors["CCNN-1"].append(list(runs.errors_1))
        errors["CCNN-2"].append([runs.error_2])
        losses["CCNN-1"].append(list(runs.objectives_1))
    return Table1(variants, {row: np.array(e, dtype=float) for row, e in errors.items()},
                  {row: np.array(v, dtype=float) for row, v in losses.items()})


def format_table1(result: Table1) -> str:
    """Rows of 'mean (spread) | paper' test errors in percent, one column per variant."""
    check_type("result", result, Table1, "a Table1")
    paper_index = [VARIANTS.index(v) for v in result.variants]
    header = f"{'':14s}" + "".join(f"{v:>21s}" for v in result.variants)
    lines = [header, f"{'':14s}" + "".join(f"{'ours (spread)  paper':>21s}" for _ in result.variants)]
    for row in ROWS:
        mean, spread = 100 * result.mean(row), 100 * result.spread(row)
        cells = []
        for k, i in enumerate(paper_index):
            ours = f"{mean[k]:.1f}" + (f" ({spread[k]:.1f})" if result.errors[row].shape[1] > 1 else "")
            cells.append(f"  {ours:>12s} {PAPER_TABLE1[row][i]:6.2f}")
        lines.append(f"{row:14s}" + "".join(cells))
    return "\n".join(lines)
