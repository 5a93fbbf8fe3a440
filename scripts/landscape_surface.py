"""A paper-scale loss surface (Li et al. 2018, fig. 5): ResNet-56 on CIFAR-10, 51 x 51 grid,
filter-normalised directions, with the grid points split over the processes of a torchrun job.

    # one process (CPU or one GPU)
    python scripts/landscape_surface.py --checkpoint resnet56.pt --out surface.npz
    # 4 GPUs of one machine (NCCL, one GPU per process), or 8 CPU processes (gloo)
    torchrun --standalone --nproc_per_node=4 scripts/landscape_surface.py --checkpoint resnet56.pt
    LECTURELIB_DEVICE=cpu torchrun --standalone --nproc_per_node=8 scripts/landscape_surface.py ...

CIFAR-10 is read from ``$LECTURELIB_DATA/cifar-10-batches-py/`` (the python batches; never
downloaded). The network is ``--checkpoint`` (a state dict saved with ``torch.save``, read with
``weights_only=True``) or, without one, trained here for ``--train-epochs`` epochs on rank 0
(SGD, momentum 0.9, weight decay 5e-4, batch 128 as in the papers); rank 0's weights are then
broadcast so every rank holds the same model. The loss is averaged over the first ``--samples``
training images (Li et al. use all 50,000). Under torchrun each rank evaluates its share of the
grid (:mod:`lecturelib.landscape.distributed`) and rank 0 writes ``--out`` (alphas, betas, loss,
accuracy) and prints the wall time, the seconds per grid point, and the time one process would
need at that rate (an extrapolation: world size x wall time).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist

from lecturelib import data, device, landscape, train
from lecturelib.models import convnets


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Run under torchrun to split the grid; see the module docstring.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--depth", type=int, default=56, help="ResNet depth 6n + 2 (20, 56, 110, ...)")
    parser.add_argument("--no-skip", action="store_true", help="Li et al.'s ResNet-noshort (no skip connections)")
    parser.add_argument("--steps", type=int, default=51, help="grid points per axis (steps x steps in all)")
    parser.add_argument("--span", type=float, nargs=2, default=(-1.0, 1.0), metavar=("LOW", "HIGH"),
                        help="coefficient range of both axes")
    parser.add_argument("--samples", type=int, default=50_000, help="training images the loss is averaged over")
    parser.add_argument("--batch-size", type=int, default=500, help="images per forward pass when evaluating")
    parser.add_argument("--checkpoint", default=None, help="state dict of the trained network (torch.save)")
    parser.add_argument("--train-epochs", type=int, default=0, help="without --checkpoint: epochs to train first")
    parser.add_argument("--seed", type=int, default=0, help="seeds the network and the two directions")
    parser.add_argument("--out", default="surface.npz", help="where rank 0 writes the surface")
    args = parser.parse_args(argv)
    for name in ("steps", "samples", "batch_size"):
        if getattr(args, name) < (2 if name == "steps" else 1):
            parser.error(f"--{name.replace('_', '-')} must be at least {2 if name == 'steps' else 1}")
    if args.train_epochs < 0:
        parser.error("--train-epochs must be at least 0")
    return args


def start_process_group() -> torch.device:
    """Join the torchrun job if there is one (NCCL with one GPU per process, else gloo); return
    where this process evaluates."""
    where = device.get_device()
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if where.type == "cuda":
        where = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(where)
    if distributed:
        dist.init_process_group("nccl" if where.type == "cuda" else "gloo")
    return where


def build_model(args, cifar, where: torch.device) -> torch.nn.Module:
    """The network every rank evaluates: loaded or trained on rank 0, then broadcast."""
    torch.manual_seed(args.seed)
    model = convnets.cifar_resnet(args.depth, skip=not args.no_skip)
    if args.checkpoint:
        model.load_state_dict(torch.load(args.checkpoint, map_location="cpu", weights_only=True))
    rank = dist.get_rank() if dist.is_initialized() else 0
    if not args.checkpoint and args.train_epochs and rank == 0:
        train.fit(model, cifar, lr=0.1, momentum=0.9, weight_decay=5e-4, batch_size=128,
                  epochs=args.train_epochs, eval_every=args.train_epochs, device=where)
    model = model.to(where).eval()
    if dist.is_initialized():
        for tensor in model.state_dict().values():
            dist.broadcast(tensor, src=0)
    return model


def main(argv=None) -> int:
    args = parse_args(argv)
    where = start_process_group()
    rank = dist.get_rank() if dist.is_initialized() else 0
    world_size = dist.get_world_size() if dist.is_initialized() else 1
    cifar = data.load_cifar10()
    model = build_model(args, cifar, where)
    X, y = cifar.X_train[:args.samples].to(where), cifar.y_train[:args.samples].to(where)
    start = time.perf_counter()
    surface = landscape.plane(model, X, y, steps=args.steps, span=tuple(args.span), norm="filter",
                              ignore="biasbn", seed=args.seed, batch_size=args.batch_size)
    seconds = time.perf_counter() - start
    if rank == 0:
        np.savez(args.out, alphas=surface.alphas, betas=surface.betas, loss=surface.loss,
                 accuracy=surface.accuracy)
        points = surface.loss.size
        print(f"ResNet-{args.depth}{'-noshort' if args.no_skip else ''}, {len(X)} images, {args.steps}x{args.steps} "
              f"grid on {world_size} process(es) ({where.type}): {seconds:.1f} s, "
              f"{seconds * world_size / points:.3f} process-seconds per point, one process would need about "
              f"{seconds * world_size:.0f} s (extrapolated); loss at the grid point nearest the centre "
              f"{surface.at_origin():.4f}; written to {args.out}", flush=True)
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
