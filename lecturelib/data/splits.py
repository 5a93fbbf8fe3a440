"""The :class:`DataSplit` every loader returns, and the seeded, stratified split that makes one."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from .._checks import check_int

__all__ = ["DataSplit", "split_arrays"]


@dataclass(frozen=True)
class DataSplit:
    """A train/test split: ``X_train (N, ...)``, ``y_train (N,)`` or ``(N, 1)``, and the same for test."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    description: str = ""

    def __post_init__(self):
        for name in ("X_train", "y_train", "X_test", "y_test"):
            value = getattr(self, name)
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"DataSplit.{name} must be a torch.Tensor, got {type(value).__name__}")
        if len(self.X_train) != len(self.y_train):
            raise ValueError(f"X_train has {len(self.X_train)} rows but y_train has {len(self.y_train)}")
        if len(self.X_test) != len(self.y_test):
            raise ValueError(f"X_test has {len(self.X_test)} rows but y_test has {len(self.y_test)}")
        if self.X_train.shape[1:] != self.X_test.shape[1:]:
            raise ValueError(f"X_train rows have shape {tuple(self.X_train.shape[1:])}, "
                             f"X_test rows {tuple(self.X_test.shape[1:])}")

    @property
    def is_classification(self) -> bool:
        """True when targets are integer class labels."""
        return not torch.is_floating_point(self.y_train)

    @property
    def n_classes(self) -> int | None:
        """Number of classes (``None`` for regression)."""
        if not self.is_classification:
            return None
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    @property
    def n_features(self) -> int:
        """Number of input features per sample (product of the non-batch dimensions)."""
        return int(np.prod(self.X_train.shape[1:]))

    def to(self, device) -> "DataSplit":
        """The same split with every tensor on ``device``."""
        return replace(self, X_train=self.X_train.to(device), y_train=self.y_train.to(device),
                       X_test=self.X_test.to(device), y_test=self.y_test.to(device))

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> "DataSplit":
        """The first ``n_train`` training and ``n_test`` test samples (all when ``None``)."""
        for name, n in (("n_train", n_train), ("n_test", n_test)):
            if n is not None:
                check_int(name, n, minimum=1)
        return replace(self, X_train=self.X_train[:n_train], y_train=self.y_train[:n_train],
                       X_test=self.X_test[:n_test], y_test=self.y_test[:n_test])

    def __repr__(self) -> str:
        kind = f"{self.n_classes} classes" if self.is_classification else "regression"
        return (f"DataSplit({self.description!r}: train {tuple(self.X_train.shape)}, "
                f"test {tuple(self.X_test.shape)}, {kind})")


def split_arrays(X: np.ndarray, y: np.ndarray, test_fraction: float, seed: int, description: str,
                 stratify: bool = True) -> DataSplit:
    """Shuffle with ``seed`` and cut off the last ``test_fraction`` (stratified by class); neither
    part may come out empty.

    With ``stratify`` the targets are class labels (``int64``, shape ``(N,)``); without, they are
    regression targets (``float32``, shape ``(N, 1)``). Inputs become ``float32``. Callers have
    checked ``test_fraction`` and ``seed``.
    """
    rng = np.random.default_rng(seed)
    if stratify:
        test_idx = []
        for label in np.unique(y):
            members = rng.permutation(np.flatnonzero(y == label))
            test_idx.append(members[: int(round(test_fraction * len(members)))])
        test_mask = np.zeros(len(y), dtype=bool)
        test_mask[np.concatenate(test_idx)] = True
        train_idx = rng.permutation(np.flatnonzero(~test_mask))
        test_idx = rng.permutation(np.flatnonzero(test_mask))
    else:
        order = rng.permutation(len(y))
        n_test = int(round(test_fraction * len(y)))
        train_idx, test_idx = order[n_test:], order[:n_test]
    if len(train_idx) == 0 or len(test_idx) == 0:
        raise ValueError(f"test_fraction={test_fraction} splits the {len(y)} samples into {len(test_idx)} test and "
                         f"{len(train_idx)} training samples; choose a test_fraction that leaves both non-empty")

    def targets(rows):
        if stratify:
            return torch.as_tensor(y[rows], dtype=torch.int64)
        return torch.as_tensor(y[rows], dtype=torch.float32).reshape(-1, 1)

    return DataSplit(torch.as_tensor(X[train_idx], dtype=torch.float32), targets(train_idx),
                     torch.as_tensor(X[test_idx], dtype=torch.float32), targets(test_idx), description)
