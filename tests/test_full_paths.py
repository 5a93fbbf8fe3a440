"""The `full` paths (``LECTURELIB_SCALE=full``), executed end to end on a CPU: `make test-full`.

Every notebook under ``book/`` is executed with ``LECTURELIB_SCALE=full`` on synthetic MNIST and
CIFAR-10 written in the real formats (:mod:`tests.full_data`) into a temporary ``LECTURELIB_DATA``.
The stored notebooks are never written: each one is executed as a copy inside a temporary copy of
``book/``.

The paper-scale sizes of a `full` branch are literal numbers in a notebook cell (the reader sees
the paper's setting). To execute each full configuration once in seconds, :data:`SMOKE_CUTS` replaces
those numbers in the copy only - epochs, steps, grid sizes and, where the synthetic files hold fewer
images than the paper used, the number of images; never depths, widths, data sets or models. A cut-down run cannot meet the claims a notebook asserts after paper-scale training, so in a
cut notebook an ``AssertionError`` raised by the notebook's own ``assert`` is reported, not failed;
every other exception fails the test. Notebooks without a `full` branch run unchanged and must pass
outright.

Marked ``full``: `make test` skips these tests, `make test-full` runs them, one notebook at a time.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests import full_data

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOKS = sorted(p.relative_to(BOOK).as_posix() for p in BOOK.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)

# notebook -> (text of the full branch, its cut-down replacement); each text must occur in the notebook
SMOKE_CUTS = {
    "activations/training_speed.ipynb": [
        ("PAPER_RATES, PAPER_EPOCHS, PAPER_SEEDS = (0.003, 0.01, 0.03, 0.1), 40, (0, 1, 2)",
         "PAPER_RATES, PAPER_EPOCHS, PAPER_SEEDS = (0.01,), 1, (0, 1, 2)"),
    ],
    "batchnorm/mnist_experiment.ipynb": [  # 50 epochs of the synthetic 300 images: 250 steps, no cut needed
    ],
    "convexification/mnist_variations.ipynb": [  # the sizes live in table1_setting(): replaced in the copy
        ("setting = t1.table1_setting()\n",
         "import dataclasses; setting = dataclasses.replace(t1.table1_setting(), n_train=200, n_test=100, "
         "cnn_epochs=1, ccnn_epochs=1)\n"),
    ],
    "convexification/top_layer.ipynb": [
        ("(30, 500) if device.is_full_scale()", "(1, 5) if device.is_full_scale()"),
    ],
    "initialisation/saturation.ipynb": [
        ("(5, 1000, 100_000) if device.is_full_scale()", "(5, 1000, 200) if device.is_full_scale()"),
    ],
    "landscape/batch_size_weight_decay.ipynb": [
        ("PAPER_BATCHES, PAPER_EPOCHS = (128, 8192), 300", "PAPER_BATCHES, PAPER_EPOCHS = (128, 8192), 1"),
        ("seed=d, steps=51, batch_size=1000", "seed=d, steps=5, batch_size=1000"),
    ],
    "landscape/skip_connections.ipynb": [
        ("batch_size=128, epochs=100, eval_every=10", "batch_size=128, epochs=1, eval_every=1"),
        ("cifar.y_train[:5000], steps=51)", "cifar.y_train[:5000], steps=3)"),
    ],
    "regularisation/weight_norms.ipynb": [
        ("(10, 30000) if device.is_full_scale()", "(10, 100) if device.is_full_scale()"),
    ],
    "residual/depth.ipynb": [
        ("epochs = 5000 if device.is_full_scale()", "epochs = 20 if device.is_full_scale()"),
    ],
}


def cut_notebook(notebook, cuts) -> int:
    """Apply ``cuts`` to the code cells of ``notebook`` (an nbformat node) in place; return how many
    replacements were made. A cut whose text is not in the notebook raises ``LookupError``."""
    made = 0
    for old, new in cuts:
        hits = [cell for cell in notebook.cells if cell.cell_type == "code" and old in cell.source]
        if not hits:
            raise LookupError(f"the full branch changed: {old!r} is no longer in the notebook; update SMOKE_CUTS")
        for cell in hits:
            cell.source = cell.source.replace(old, new)
            made += 1
    return made


def claim_errors(notebook) -> list[tuple[int, str, str]]:
    """``(cell index, error name, message)`` of every error output of an executed notebook."""
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append((index, output["ename"], output["evalue"]))
    return found


@pytest.fixture(scope="module")
def full_environment(tmp_path_factory):
    """A temporary copy of ``book/``, synthetic data in the real formats and one cache for all notebooks."""
    base = tmp_path_factory.mktemp("full")
    book = base / "book"
    shutil.copytree(BOOK, book, ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints"))
    data = full_data.write_all(base / "data")
    return {"book": book, "data": data, "cache": base / "cache"}


def test_synthetic_files_are_read_by_the_real_loaders(tmp_path):
    import torch

    from lecturelib import data

    full_data.write_all(tmp_path)
    mnist, cifar = data.load_mnist(tmp_path), data.load_cifar10(tmp_path)
    assert mnist.X_train.shape == (300, 784) and mnist.X_test.shape == (100, 784)
    assert cifar.X_train.shape == (200, 3, 32, 32) and cifar.X_test.shape == (100, 3, 32, 32)
    for split in (mnist, cifar):
        assert sorted(torch.unique(split.y_train).tolist()) == list(range(10))
        assert 0.0 <= float(split.X_train.min()) and float(split.X_train.max()) <= 1.0
    # the classes differ: each class mean is nearer its own class's images than another's
    means = torch.stack([mnist.X_train[mnist.y_train == c].mean(0) for c in range(10)])
    nearest = torch.cdist(mnist.X_test, means).argmin(1)
    assert float((nearest == mnist.y_test).float().mean()) > 0.9


def test_every_cut_names_a_notebook_of_the_book():
    assert set(SMOKE_CUTS) <= set(NOTEBOOKS)
    for name in NOTEBOOKS:  # every notebook with a full branch is cut (or says why it needs no cut)
        if "is_full_scale()" in (BOOK / name).read_text():
            assert name in SMOKE_CUTS, f"{name} has a full branch but no entry in SMOKE_CUTS"


@pytest.mark.full
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_at_full_scale(name, full_environment, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    path = full_environment["book"] / name
    notebook = nbformat.read(path, as_version=4)
    cut = name in SMOKE_CUTS
    if cut:
        cut_notebook(notebook, SMOKE_CUTS[name])
    monkeypatch.setenv("LECTURELIB_SCALE", "full")
    monkeypatch.setenv("LECTURELIB_DATA", str(full_environment["data"]))
    monkeypatch.setenv("LECTURELIB_CACHE", str(full_environment["cache"]))
    monkeypatch.setenv("LECTURELIB_PROGRESS", "0")
    monkeypatch.setenv("LECTURELIB_DEVICE", os.environ.get("LECTURELIB_DEVICE", "cpu"))
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=cut,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    errors = claim_errors(notebook)
    claims = [e for e in errors if e[1] == "AssertionError" and "assert" in notebook.cells[e[0]].source]
    print(f"\n{seconds:7.1f} s  {name}  {'cut' if cut else 'as stored'}; "
          f"claims not met at smoke size: {[e[0] for e in claims]}")
    failures = [e for e in errors if e not in claims]
    assert not failures, f"{name} at full scale: " + "; ".join(f"cell {i}: {n}: {m}" for i, n, m in failures)


@pytest.mark.full
def test_paper_scale_surface_script_runs_its_default_configuration(full_environment, tmp_path):
    """scripts/landscape_surface.py with its defaults (ResNet-56, 51 x 51, filter-normalised) under
    torchrun on two gloo ranks, the loss averaged over 2 synthetic images instead of 50,000."""
    import subprocess
    import sys

    import numpy as np

    out = tmp_path / "surface.npz"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "LECTURELIB_DEVICE": "cpu",
           "LECTURELIB_DATA": str(full_environment["data"]), "LECTURELIB_PROGRESS": "0"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(ROOT / "scripts" / "landscape_surface.py"), "--samples", "2", "--batch-size", "2", "--out", str(out)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    print(f"\n{time.perf_counter() - start:7.1f} s  scripts/landscape_surface.py (ResNet-56, 51x51, 2 images, 2 ranks)")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    surface = np.load(out)
    assert surface["loss"].shape == (51, 51) and np.all(np.isfinite(surface["loss"]))
