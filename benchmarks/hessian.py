"""Top Hessian eigenvalue and Hessian trace: lecturelib.hessian against PyHessian 0.1.

    pip install --no-deps pyhessian==0.1
    python benchmarks/hessian.py [--repeats 3] [--probes 100] [--threads N]

Both libraries get the same trained model and the same data (one full batch, CPU, float32):

* (a) an MLP 64-64-64-10 (9,034 parameters) on the 1,347 training digits;
* (b) an MLP 40-256-256-10 (79,114 parameters) on 4,000 MNIST-1D training signals.

Top eigenvalue: lecturelib's Lanczos (default tolerance) against PyHessian's power iteration with
its defaults (``maxIter=100, tol=1e-3``) and with a tight tolerance (``tol=1e-6, maxIter=1000``);
each is compared with a reference value, Lanczos converged to ``tol=1e-10``. Target: relative
difference below 1e-3 and lecturelib at least as fast.

Trace: Hutchinson with the same number of Rademacher probes in both (PyHessian's early stop is
disabled with ``tol=0``), compared with the exact trace :math:`\\sum_i e_i^T H e_i` of model (a).
The two estimates use different random probes, so they agree within their standard errors, not
digit for digit. PyHessian's ``density()`` calls ``torch.eig``, removed from current torch, so the
spectral density is not compared.

Times are the best of ``--repeats`` runs (wall clock, includes each library's set-up such as the
first gradient). The machine's load affects both alike; the ratio is what counts.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from lecturelib import data, device, hessian, models, train


def best_time(function, repeats):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def trained_problems():
    problems = []
    digits = data.digits()
    device.seed_everything(0)
    model = models.MLP([64, 64, 64, 10], "relu")
    train.fit(model, digits, lr=0.05, momentum=0.9, epochs=15, batch_size=32, eval_every=15, progress=False,
              device="cpu")
    problems.append(("(a) digits MLP", model.eval(), digits.X_train, digits.y_train, True))
    signals = data.mnist1d(num_samples=5000)
    device.seed_everything(0)
    model = models.MLP([40, 256, 256, 10], "relu")
    train.fit(model, signals, lr=0.05, momentum=0.9, epochs=10, batch_size=64, eval_every=10, progress=False,
              device="cpu")
    problems.append(("(b) MNIST-1D MLP", model.eval(), signals.X_train, signals.y_train, False))
    return problems


def exact_trace(model, X, y):
    operator = hessian.HessianOperator(model, X, y)
    total = 0.0
    for start in range(0, operator.size, 512):
        eye = torch.zeros(min(512, operator.size - start), operator.size, dtype=torch.float64)
        eye[torch.arange(len(eye)), torch.arange(start, start + len(eye))] = 1.0
        total += float((operator.matvec(eye) * eye).sum())
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from pyhessian import hessian as PyHessian

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, best of {args.repeats}\n")
    for name, model, X, y, with_exact in trained_problems():
        P = sum(p.numel() for p in model.parameters())
        print(f"{name}: {P:,} parameters, {len(X):,} samples")
        reference = float(hessian.top_eigenvalues(model, X, y, tol=1e-10, max_iterations=500)[0])

        t_ours, ours = best_time(lambda: float(hessian.top_eigenvalues(model, X, y)[0]), args.repeats)

        def pyhessian_top(**kwargs):
            engine = PyHessian(model, F.cross_entropy, data=(X, y), cuda=False)
            return float(engine.eigenvalues(**kwargs)[0][0])

        t_py, theirs = best_time(lambda: pyhessian_top(), args.repeats)
        t_py_tight, theirs_tight = best_time(lambda: pyhessian_top(maxIter=1000, tol=1e-6), args.repeats)
        print(f"  top eigenvalue, reference (Lanczos, tol 1e-10): {reference:.7g}")
        rows = [("lecturelib Lanczos (tol 1e-6)", ours, t_ours),
                ("pyhessian power (defaults)", theirs, t_py),
                ("pyhessian power (tol 1e-6)", theirs_tight, t_py_tight)]
        for label, value, seconds in rows:
            print(f"    {label:32s} {value:.7g}  rel. diff {abs(value - reference) / abs(reference):.1e}  "
                  f"{seconds:7.3f} s")
        print(f"    relative difference lecturelib vs pyhessian (tol 1e-6): "
              f"{abs(ours - theirs_tight) / abs(theirs_tight):.1e} (target < 1e-3)")
        print(f"    speed-up: {t_py / t_ours:.1f}x vs pyhessian defaults, {t_py_tight / t_ours:.1f}x vs pyhessian "
              f"tol 1e-6 (target >= 1)")

        t_tr, estimate = best_time(lambda: hessian.hessian_trace(model, X, y, probes=args.probes), args.repeats)

        def pyhessian_trace():
            engine = PyHessian(model, F.cross_entropy, data=(X, y), cuda=False)
            return torch.tensor(engine.trace(maxIter=args.probes, tol=0.0), dtype=torch.float64)

        t_tr_py, samples = best_time(pyhessian_trace, args.repeats)
        py_value, py_error = float(samples.mean()), float(samples.std() / len(samples) ** 0.5)
        print(f"  trace, {args.probes} Rademacher probes each"
              + (f"; exact trace {exact_trace(model, X, y):.6g}" if with_exact else ""))
        print(f"    lecturelib Hutchinson            {estimate.value:.6g} +- {estimate.standard_error:.2g}  "
              f"{t_tr:7.3f} s")
        print(f"    pyhessian trace                  {py_value:.6g} +- {py_error:.2g}  {t_tr_py:7.3f} s")
        gap = abs(estimate.value - py_value) / (estimate.standard_error ** 2 + py_error ** 2) ** 0.5
        print(f"    difference {gap:.2f} combined standard errors; speed-up {t_tr_py / t_tr:.1f}x (target >= 1)\n")


if __name__ == "__main__":
    main()
