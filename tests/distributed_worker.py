"""One rank of the distributed landscape test, started by tests/test_landscape_distributed.py as

    torchrun --standalone --nproc_per_node=2 tests/distributed_worker.py <out folder>

Each rank joins a gloo process group, computes the slices of :func:`build_problem` (a plane, two
lines and an interpolation whose point counts do not divide evenly by the ranks, one with fewer
points than ranks), and writes them to ``<out>/rank<r>.npz``. It then hands rank 1 other directions
and records whether every rank refused the mismatch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from lecturelib import landscape


def build_problem():
    """Two small classifiers and their data, the same in every process."""
    torch.manual_seed(0)
    X = torch.randn(64, 4)
    y = torch.randint(0, 3, (64,))
    model_a = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))
    model_b = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))
    return model_a, model_b, X, y


def slices():
    """name -> LandscapeResult: the four slices the test compares."""
    model_a, model_b, X, y = build_problem()
    return {
        "plane": landscape.plane(model_a, X, y, steps=(5, 7), span=(-0.5, 0.5), seed=3),
        "line_vmap": landscape.line(model_a, X, y, steps=9, seed=4, engine="vmap"),
        "line_loop": landscape.line(model_a, X, y, steps=9, seed=4, engine="loop"),
        "interpolate_one_point": landscape.interpolate(model_a, model_b, X, y, alphas=[0.25]),
        "interpolate": landscape.interpolate(model_a, model_b, X, y),
    }


def arrays(results) -> dict:
    out = {}
    for name, result in results.items():
        out[f"{name}_loss"] = result.loss
        out[f"{name}_accuracy"] = result.accuracy
    return out


def main(folder: Path) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.set_num_threads(1)
    saved = arrays(slices())
    model_a, _, X, y = build_problem()
    own = landscape.random_direction(model_a, generator=torch.Generator().manual_seed(10 + rank))
    try:
        landscape.line(model_a, X, y, direction=own, steps=5)
        refused = False
    except ValueError as error:
        refused = "disagree" in str(error)
    saved["mismatch_refused"] = np.array(refused)
    saved["world_size"] = np.array(dist.get_world_size())
    np.savez(folder / f"rank{rank}.npz", **saved)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
