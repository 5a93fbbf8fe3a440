"""CCNN-1 with streamed features against features kept in memory (Zhang, Liang & Wainwright 2017).

The authors' implementation computes the pooled kernel features of every image once and keeps them
(its README: about 10 GB for the MNIST variations, 50 GB for CIFAR-10). ``lecturelib.convex``
streams them: each chunk of images is turned into features, used for its SGD steps, and dropped.
This benchmark trains CCNN-1 on 12,000 images of 28 x 28 pixels (the training-set size of the
paper's MNIST variations; resized bundled digits stand in for MNIST) with the paper's layer
settings, 5 x 5 patches, 2 x 2 pooling and a few hundred random features, three ways:

* ``in-memory``: features computed once and kept, as the reference implementation does;
* ``streaming``: the same SGD visiting the same samples in the same order, features recomputed
  for every chunk visit (the iterates are identical to ``in-memory``);
* ``streaming, passes``: each chunk visit makes all the passes at once, so features are
  computed once as in ``in-memory`` but never all held (a different sample order).

Each run is a separate process, so that its peak resident memory is its own. It prints wall
time, peak resident memory, the final epoch's mean loss, and the memory that keeping every
feature of the full MNIST-variation data (12,000 + 50,000 images) would take.

    python benchmarks/ccnn.py --threads 2            # options: --images, --features, --epochs
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import time

MODES = ("in-memory", "streaming", "streaming, passes")
PAPER_IMAGES = 12_000 + 50_000       # a variation's training + test images
PAPER_FEATURES = 500                 # the authors' first-layer feature count


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # Linux reports KiB


def _current_rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def run_one(mode: str, images: int, features: int, epochs: int, threads: int, chunk: int) -> dict:
    import torch
    from lecturelib import convex, data

    torch.set_num_threads(threads)
    split = data.mnist_variation("basic", n_train=images, n_test=10, seed=0)
    X, y = split.X_train, split.y_train
    layer = convex.PatchKernelFeatures(1, 28, patch_size=5, pool=2, n_features=features, seed=0).fit(X)
    baseline = _current_rss_mb()
    settings = dict(radius=100.0, lr=0.2, batch_size=50, project_every=10, chunk_size=chunk, seed=0, device="cpu")
    if mode == "streaming, passes":
        settings |= dict(epochs=1, chunk_passes=epochs, in_memory=False)
    else:
        settings |= dict(epochs=epochs, in_memory=mode == "in-memory")
    start = time.perf_counter()
    fit = convex.fit_ccnn(layer, X, y, **settings)
    seconds = time.perf_counter() - start
    peak = _peak_rss_mb()
    digest = hashlib.sha256(fit.weight.numpy().tobytes()).hexdigest()[:12]
    return {"mode": mode, "seconds": seconds, "peak_mb": peak, "baseline_mb": baseline,
            "loss": fit.loss(X[:2000], y[:2000]), "error": fit.error(X[:2000], y[:2000]), "weight": digest, "kept_mb": layer.feature_bytes(images) / 2**20,
            "positions": layer.n_positions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=12_000)
    parser.add_argument("--features", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=250)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_one(args.mode, args.images, args.features, args.epochs, args.threads, args.chunk)))
        return
    results = []
    for mode in MODES:
        command = [sys.executable, __file__, "--mode", mode, "--images", str(args.images), "--features",
                   str(args.features), "--epochs", str(args.epochs), "--threads", str(args.threads),
                   "--chunk", str(args.chunk)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    reference = results[0]
    print(f"CCNN-1 on {args.images:,} images of 28 x 28, 5 x 5 patches, 2 x 2 pooling ({reference['positions']} "
          f"positions), {args.features} random features, {args.epochs} passes of SGD (batch 50), "
          f"{args.threads} threads")
    print("peak MB: the process's peak resident memory; at start: resident when training starts (data, features fitted);")
    print("loss, error: of the averaged weight on the first 2,000 training images (measured after the timer)")
    print(f"{'run':<20} {'seconds':>8} {'x in-memory':>12} {'peak MB':>8} {'at start':>9} {'loss':>7} {'error':>6}  weight")
    for r in results:
        print(f"{r['mode']:<20} {r['seconds']:8.1f} {r['seconds'] / reference['seconds']:12.2f} {r['peak_mb']:8.0f} "
              f"{r['baseline_mb']:9.0f} {r['loss']:7.4f} {r['error']:6.3f}  {r['weight']}")
    print(f"identical iterates, in-memory and streaming: {results[0]['weight'] == results[1]['weight']}")
    full = PAPER_IMAGES * reference["positions"] * 4 / 2**30
    print(f"keeping the pooled features of these {args.images:,} images: {reference['kept_mb']:.0f} MB; of the full "
          f"variation data ({PAPER_IMAGES:,} images): {full * args.features:.1f} GB with {args.features} features, "
          f"{full * PAPER_FEATURES:.1f} GB with the paper's {PAPER_FEATURES}")


if __name__ == "__main__":
    main()
