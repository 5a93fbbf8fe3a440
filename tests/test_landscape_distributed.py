"""Landscape grids split across processes (lecturelib.landscape.distributed).

The reference is the same slices computed by one process without a process group; two gloo ranks
started by ``torchrun --standalone --nproc_per_node=2`` (tests/distributed_worker.py) must both
return the whole surface, equal to it within float32 rounding of one forward pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from lecturelib import landscape
from tests import distributed_worker

ROOT = Path(__file__).resolve().parents[1]
# A grid point's loss is the same float32 computation on either side; only the batching of the
# vectorised forward (a chunk of 35 points or of 18) may change the last bits of a float32 sum.
RTOL, ATOL = 1e-6, 1e-7


@pytest.mark.parametrize("n_points", [1, 2, 7, 35, 2601])
@pytest.mark.parametrize("world_size", [1, 2, 3, 8])
def test_shards_cover_every_point_once_in_order_with_equal_padded_sizes(n_points, world_size):
    bounds = [landscape.shard(n_points, r, world_size) for r in range(world_size)]
    covered = [i for start, stop in bounds for i in range(start, stop)]
    assert covered == list(range(n_points))  # every point once, rank order = grid order
    per = -(-n_points // world_size)
    assert all(stop - start <= per for start, stop in bounds)
    sizes = [stop - start for start, stop in bounds]
    assert sizes == sorted(sizes, reverse=True)  # only trailing ranks are short: padding sits at the end


def test_without_a_process_group_nothing_is_split():
    assert not landscape.is_distributed()
    model, _, X, y = distributed_worker.build_problem()
    direction = landscape.random_direction(model, generator=0)
    coefficients = torch.linspace(-1, 1, 5, dtype=torch.float64).unsqueeze(1)
    split_loss, split_acc = landscape.evaluate_split(model, X, y, [direction], coefficients)
    loss, acc = landscape.evaluate_affine(model, X, y, [direction], coefficients)
    np.testing.assert_array_equal(split_loss, loss)
    np.testing.assert_array_equal(split_acc, acc)


def _gloo_unavailable() -> str | None:
    if not dist.is_available():
        return "this torch build has no torch.distributed"
    if not dist.is_gloo_available():
        return "this torch build has no gloo backend"
    return None


@pytest.mark.skipif(_gloo_unavailable() is not None, reason=str(_gloo_unavailable()))
def test_two_ranks_give_every_rank_the_single_process_surface(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "LECTURELIB_DEVICE": "cpu"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(ROOT / "tests" / "distributed_worker.py"), str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz", allow_pickle=False)) for r in range(2)]
    assert all(int(r["world_size"]) == 2 for r in ranks)
    reference = distributed_worker.slices()  # one process, no process group
    for name, result in reference.items():
        for rank in ranks:
            np.testing.assert_allclose(rank[f"{name}_loss"], result.loss, rtol=RTOL, atol=ATOL, err_msg=name)
            np.testing.assert_allclose(rank[f"{name}_accuracy"], result.accuracy, rtol=0, atol=1e-12, err_msg=name)
        np.testing.assert_array_equal(ranks[0][f"{name}_loss"], ranks[1][f"{name}_loss"])  # gathered, not recomputed
        assert ranks[0][f"{name}_loss"].shape == result.loss.shape
    assert reference["plane"].loss.shape == (5, 7)
    assert all(bool(r["mismatch_refused"]) for r in ranks)  # different directions on the ranks: refused everywhere


# ---------------------------------------------------------------- the paper-scale entry point

SCRIPT = ROOT / "scripts" / "landscape_surface.py"


def test_surface_script_documents_its_options():
    done = subprocess.run([sys.executable, str(SCRIPT), "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    for option in ("--depth", "--steps", "--samples", "--checkpoint", "--train-epochs", "--out", "torchrun"):
        assert option in done.stdout


@pytest.mark.skipif(_gloo_unavailable() is not None, reason=str(_gloo_unavailable()))
def test_surface_script_runs_a_tiny_configuration_under_torchrun(tmp_path):
    from tests import full_data

    full_data.write_cifar10(tmp_path / "data", per_batch=8, n_test=8)
    out = tmp_path / "surface.npz"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "LECTURELIB_DEVICE": "cpu",
           "LECTURELIB_DATA": str(tmp_path / "data"), "LECTURELIB_PROGRESS": "0"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(SCRIPT),
               "--depth", "8", "--steps", "3", "--samples", "16", "--batch-size", "8", "--train-epochs", "1",
               "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    # rank 0 alone trains: without the broadcast of its weights the ranks would refuse to differ
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "on 2 process(es) (cpu)" in done.stdout
    surface = np.load(out)
    assert surface["loss"].shape == (3, 3) and surface["accuracy"].shape == (3, 3)
    assert np.all(np.isfinite(surface["loss"])) and np.all((0 <= surface["accuracy"]) & (surface["accuracy"] <= 1))
    np.testing.assert_array_equal(surface["alphas"], [-1.0, 0.0, 1.0])
