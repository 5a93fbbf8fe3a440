"""Benchmark: lecturelib.landscape.plane against loss-landscapes 3.0.6 over model sizes 78 to ~100k.

Every case computes a 2-D filter-normalised surface of the same trained model on the same data
with the same number of grid points, by ``lecturelib.landscape.plane`` (``engine="auto"``, its
measured choice forgotten before every run, so each run pays for its own measurement) and by
``loss_landscapes.random_plane``, alternately in this one process, so that both see the same
load. For each case it prints both times (best of ``--repeats``), their ratio, the median of the
per-repeat paired ratios, the path ``"auto"`` chose, and lecturelib's time against a floor: the
multiply-adds of one naive forward pass per grid point (``forward_macs``) at the rate a
1024 x 1024 float32 matrix product reaches on this machine, measured just before the case.
lecturelib's engine computes the first layer's products once, so it can go below that floor.
A second bound is measured, not computed: the time of the forward pass and loss *after* the first
layer (the first layer replaced by its stored output, in whichever memory format is faster),
once per grid point. That work is left for any engine that saves the whole first layer and
nothing else, so ``x bound`` near 1 means the per-point path is at its bound.

Run from the repository root:  python benchmarks/landscape_sweep.py [--threads 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from lecturelib import data, landscape, models, train
from lecturelib.landscape import strategy
from lecturelib.landscape.engine import first_linear_layer, forward_macs
from lecturelib.landscape.precompute import without_first_layer
from lecturelib.losses import cross_entropy, mean_squared_error
from lecturelib.models.convnets import SmallCNN


def matmul_rate(repeats=5, size=1024):
    """Multiply-adds per second of a ``size`` x ``size`` float32 matrix product (best of ``repeats``)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return size ** 3 / best


def _fit(model, split, epochs, batch_size=64):
    train.fit(model, split, optimizer="adam", lr=0.01, epochs=epochs, batch_size=batch_size, progress=False,
              device="cpu")
    return model.eval()


def cases():
    """``(name, model, X, y, loss, steps)``, smallest model first."""
    torch.manual_seed(0)
    regression = data.regression_1d()
    net = _fit(models.MLP([1, 5, 5, 5, 1, 1], "leaky_relu"), regression, 300, batch_size=30)
    yield "regression MLP", net, regression.X_train, regression.y_train, F.mse_loss, 101
    digits = data.digits()
    X, y = torch.cat([digits.X_train, digits.X_test]), torch.cat([digits.y_train, digits.y_test])
    torch.manual_seed(0)
    yield "digits MLP 64-32-10", _fit(models.MLP([64, 32, 10], "relu"), digits, 10), X, y, F.cross_entropy, 51
    torch.manual_seed(0)
    cnn = _fit(SmallCNN((1, 8, 8), channels=(16, 32)), digits, 5)
    yield "digits CNN 16-32", cnn, X, y, F.cross_entropy, 31
    torch.manual_seed(0)
    yield "digits MLP 64-120-10", _fit(models.MLP([64, 120, 10], "relu"), digits, 20), X, y, F.cross_entropy, 51
    signals = data.mnist1d(num_samples=5000)
    Xs, ys = signals.X_train, signals.y_train
    torch.manual_seed(0)
    yield ("MNIST-1D MLP 40-100-100-10", _fit(models.MLP([40, 100, 100, 10], "relu"), signals, 5), Xs, ys,
           F.cross_entropy, 31)
    torch.manual_seed(0)
    yield ("MNIST-1D MLP 40-300-300-10", _fit(models.MLP([40, 300, 300, 10], "relu"), signals, 5), Xs, ys,
           F.cross_entropy, 21)


def ours(model, X, y, steps):
    strategy.clear_decisions()
    result = landscape.plane(model, X, y, steps=steps, seed=0, device="cpu")
    chosen = [decision for decision in strategy._DECISIONS.values()]
    return result, chosen[0] if chosen else ("auto: not remembered", None)


def peer(model, X, y, loss_fn, steps):
    import loss_landscapes
    import loss_landscapes.metrics

    metric = loss_landscapes.metrics.Loss(loss_fn, X, y)
    with torch.no_grad():
        return loss_landscapes.random_plane(model, metric, distance=1, steps=steps, normalization="filter",
                                            deepcopy_model=True)


def after_first_layer_seconds(model, X, y, repeats=7):
    """Best time of one forward pass and loss beyond the first layer (its output stored), over all of
    ``X``, in the faster of the contiguous and (for 4-D activations) channels-last formats."""
    name = first_linear_layer(model, X)
    loss_fn = cross_entropy if not torch.is_floating_point(y) else mean_squared_error
    best = float("inf")
    with torch.inference_mode():
        model = model.eval()
        stored = {}
        handle = model.get_submodule(name).register_forward_hook(lambda m, i, o: stored.setdefault("value", o))
        model(X)
        handle.remove()
        rest = without_first_layer(model, name)
        value = stored["value"]
        formats = [value] + ([value.contiguous(memory_format=torch.channels_last)] if value.dim() == 4 else [])
        for candidate in formats:
            rest.get_submodule(name)._buffers["value"] = candidate
            for _ in range(repeats):
                start = time.perf_counter()
                loss_fn(rest(X), y)
                best = min(best, time.perf_counter() - start)
    return best


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def run_case(name, model, X, y, loss_fn, steps, repeats):
    rate = matmul_rate()
    ours_times, peer_times, chosen = [], [], None
    for _ in range(repeats):  # alternate, so both see the same load
        seconds, (result, chosen) = timed(lambda: ours(model, X, y, steps))
        ours_times.append(seconds)
        peer_times.append(timed(lambda: peer(model, X, y, loss_fn, steps))[0])
    assert result.loss.shape == (steps, steps)
    floor = forward_macs(model, X) * steps * steps / rate
    bound = after_first_layer_seconds(model, X, y) * steps * steps
    paired = statistics.median(p / o for p, o in zip(peer_times, ours_times))
    row = dict(name=name, params=models.count_parameters(model), samples=len(X), steps=steps, ours=min(ours_times),
               peer=min(peer_times), paired=paired, floor=floor, bound=bound, rate=rate, chosen=chosen)
    row["ratio"] = row["peer"] / row["ours"]
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="alternating timed runs of each library")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--only", default=None, help="run only the cases whose name contains this text")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, CPU, best of {args.repeats}")
    print("| model | parameters | samples | grid | lecturelib s | loss-landscapes s | ratio | paired ratio "
          "| floor s | x floor | bound s | x bound | auto chose |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for case in cases():
        if args.only and args.only not in case[0]:
            continue
        row = run_case(*case, args.repeats)
        rows.append(row)
        engine, chunk = row["chosen"]
        print(f"| {row['name']} | {row['params']:,} | {row['samples']:,} | {row['steps']}x{row['steps']} "
              f"| {row['ours']:.3f} | {row['peer']:.3f} | {row['ratio']:.1f}x | {row['paired']:.1f}x "
              f"| {row['floor']:.3f} | {row['ours'] / row['floor']:.2f} | {row['bound']:.3f} "
              f"| {row['ours'] / row['bound']:.2f} | {engine}{'' if chunk is None else f' {chunk}'} |",
              flush=True)
    worst = min(rows, key=lambda r: r["ratio"])
    print(f"smallest ratio: {worst['ratio']:.2f}x ({worst['name']}); target >= 1.5x at every size: "
          f"{'met' if worst['ratio'] >= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
