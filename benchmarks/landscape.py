"""Benchmark: lecturelib.landscape.plane against loss-landscapes 3.0.6 ``random_plane``.

Both compute a 2-D filter-normalised loss surface of the same model, on the same data, with the
same number of grid points, in this one process:

(a) the lectures' 78-parameter LeakyReLU regression net, 101 x 101 grid;
(b) a 9,010-parameter MLP (64-120-10, ReLU) on all 1,797 scikit-learn digits, 51 x 51 grid.

For (b) it also prints lecturelib's time against a floor: the multiply-adds of the grid's
forward passes (computed naively, one full forward per point) divided by the rate that a large
matrix product reaches on this machine. lecturelib's engine computes the first layer's
products once per direction instead of once per point, so it can go below that floor.

Run from the repository root:  python benchmarks/landscape.py [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from lecturelib import data, landscape, models, train
from lecturelib.landscape import strategy
from lecturelib.landscape.engine import forward_macs


def best_time(function, repeats):
    """Minimum wall time over ``repeats`` calls (the least disturbed by other processes)."""
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def matmul_rate(repeats=5, size=1024):
    """Multiply-adds per second of a ``size`` x ``size`` float32 matrix product (best of ``repeats``)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    seconds, _ = best_time(lambda: a @ b, repeats)
    return size ** 3 / seconds


def peer_plane(model, X, y, loss_fn, steps):
    import loss_landscapes
    import loss_landscapes.metrics

    metric = loss_landscapes.metrics.Loss(loss_fn, X, y)
    model.eval()
    with torch.no_grad():
        return loss_landscapes.random_plane(model, metric, distance=1, steps=steps, normalization="filter",
                                            deepcopy_model=True)


def case(name, model, X, y, loss_fn, steps, repeats, peer_repeats):
    model.eval()
    def ours_plane():
        strategy.clear_decisions()  # every run pays for engine="auto"'s measurement
        return landscape.plane(model, X, y, steps=steps, seed=0, device="cpu")

    ours_s, ours = best_time(ours_plane, repeats)
    peer_s, peer = best_time(lambda: peer_plane(model, X, y, loss_fn, steps), peer_repeats)
    assert ours.loss.shape == (steps, steps) and np.asarray(peer).shape == (steps, steps)
    print(f"({name}) {steps}x{steps} grid: lecturelib {ours_s:.3f} s, loss-landscapes {peer_s:.3f} s, "
          f"ratio {peer_s / ours_s:.1f}x")
    return ours_s, peer_s


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of lecturelib (best is kept)")
    parser.add_argument("--peer-repeats", type=int, default=1, help="timed runs of loss-landscapes")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, CPU")

    # (a) the lectures' 78-parameter regression net, trained briefly
    torch.manual_seed(0)
    regression = data.regression_1d()
    net_a = models.MLP([1, 5, 5, 5, 1, 1], "leaky_relu")
    train.fit(net_a, regression, optimizer="adam", lr=0.01, epochs=300, progress=False, device="cpu")
    assert models.count_parameters(net_a) == 78
    a_ours, a_peer = case("a: 78 params", net_a, regression.X_train, regression.y_train, F.mse_loss, 101,
                          args.repeats, args.peer_repeats)

    # (b) a ~9k-parameter MLP on all 1,797 digits
    torch.manual_seed(0)
    digits = data.digits()
    net_b = models.MLP([64, 120, 10], "relu")
    train.fit(net_b, digits, optimizer="adam", lr=0.01, epochs=20, batch_size=128, progress=False, device="cpu")
    X = torch.cat([digits.X_train, digits.X_test])
    y = torch.cat([digits.y_train, digits.y_test])
    print(f"(b) model has {models.count_parameters(net_b)} parameters, {len(X)} samples")
    b_ours, b_peer = case("b: digits MLP", net_b, X, y, F.cross_entropy, 51, args.repeats, args.peer_repeats)

    macs = forward_macs(net_b, X) * 51 * 51
    rate = matmul_rate()
    floor = macs / rate
    print(f"(b) floor: {macs / 1e9:.1f} G multiply-adds at {rate / 1e9:.1f} G/s (1024^3 matmul) = {floor:.3f} s; "
          f"lecturelib takes {b_ours / floor:.2f}x the floor")
    print(f"targets: (a) >= 30x: {'met' if a_peer / a_ours >= 30 else 'NOT met'}; "
          f"(b) >= 1.5x: {'met' if b_peer / b_ours >= 1.5 else 'NOT met'}; "
          f"(b) within 2x of floor: {'met' if b_ours <= 2 * floor else 'NOT met'}")


if __name__ == "__main__":
    main()
