"""``food-recognition demo``: the whole mission on embedded defaults (README, first command)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="run the whole mission locally: data, Blob upload, training, TTA, serving",
        description="Sample data (or --data) -> Azurite Blob container -> training on the "
        "local compute target -> evaluation with and without TTA -> azmlinfsrv -> one photo "
        "classified over HTTP. No Azure account needed; --azure uses a real workspace.",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path("demo-output"),
        help="where everything is written (default: demo-output)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="a Food-101 (or class-folder) data set instead of the digits sample",
    )
    parser.add_argument(
        "--azure",
        action="store_true",
        help="upload to AZURE_STORAGE_ACCOUNT_URL and train on the Azure ML "
        "workspace in config.json",
    )
    parser.add_argument("--compute", default="gpu-cluster", help="Azure ML cluster (--azure)")
    parser.add_argument("--backbone", default="mobilenet_v3_small")
    parser.add_argument("--weights", default=None, help="none, imagenet, or a weights file")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-per-class", type=int, default=None)
    parser.add_argument(
        "--tta",
        default=None,
        help="TTA policy evaluated and served (default: flip for photos, "
        "five_crop for the digits sample)",
    )
    parser.add_argument("--no-serve", action="store_true", help="skip the inference server")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo with the parsed options."""
    from food_recognition.demo import DemoOptions, run_demo

    options = DemoOptions(
        workdir=args.workdir,
        data=args.data,
        azure=args.azure,
        compute=args.compute,
        backbone=args.backbone,
        weights=None if args.weights in (None, "none") else args.weights,
        image_size=args.image_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        max_per_class=args.max_per_class,
        tta=args.tta,
        serve=not args.no_serve,
    )
    result = run_demo(options, echo=lambda line: print(line, flush=True))
    return 0 if result.prediction is not None or not options.serve else 1
