"""``food-recognition evaluate``, ``predict`` and ``backbones``.

``evaluate`` scores a model package on a data set's split (with and without
TTA) and writes ``evaluation.json`` and the plots into the package;
``predict`` classifies image files; ``backbones`` lists the registered
backbones. Heavy imports happen inside the handlers, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from food_recognition.cli.progress import progress_line
from food_recognition.plugins.resolve import resolve

if TYPE_CHECKING:
    from food_recognition.config import TTAConfig
    from food_recognition.package import ModelPackage

__all__ = ["json_ready", "register", "run_backbones", "run_evaluate", "run_predict"]

SPLITS = ("test", "validation", "train")


def register(subparsers: Any) -> None:
    """Add the ``evaluate``, ``predict`` and ``backbones`` subcommands.

    :param subparsers: the ``add_subparsers()`` object of the main parser.
    """
    evaluate = subparsers.add_parser(
        "evaluate",
        help="score a model package on a data set (accuracy, top-5, log loss, plots)",
        description="Evaluate a model package on a split of a data set, with and without "
        "test-time augmentation, and write evaluation.json and plots/*.png into the package.",
    )
    evaluate.add_argument("package", metavar="PACKAGE", help="the model package folder")
    evaluate.add_argument("--data", required=True, metavar="PATH", help="the data-set folder")
    evaluate.add_argument("--split", choices=SPLITS, default="test", help="default: test")
    evaluate.add_argument(
        "--tta",
        metavar="POLICY",
        help="also evaluate with this TTA policy (default: the package's own policy, "
        "unless it is identity)",
    )
    evaluate.add_argument(
        "--tta-threshold",
        type=float,
        metavar="X",
        help="adaptive TTA: extra views only for images whose top probability is below X",
    )
    evaluate.add_argument(
        "--tta-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a TTA policy option, e.g. passes=10 (repeatable)",
    )
    evaluate.add_argument("--no-tta", action="store_true", help="single-view evaluation only")
    evaluate.add_argument("--batch-size", type=int, default=32, help="default: 32")
    evaluate.add_argument(
        "--no-save", action="store_true", help="print only; write nothing into the package"
    )
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.set_defaults(handler=run_evaluate)

    predict = subparsers.add_parser(
        "predict",
        help="classify image files with a model package",
        description="Print the top-k classes of each image. An image that cannot be read "
        "gets one line 'error: FILE: REASON' and the exit code is 1.",
    )
    predict.add_argument("package", metavar="PACKAGE", help="the model package folder")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    predict.add_argument("--top-k", type=int, default=5, help="classes per image (default: 5)")
    predict.add_argument("--json", action="store_true", help="print JSON lines for scripts")
    predict.set_defaults(handler=run_predict)

    backbones = subparsers.add_parser(
        "backbones",
        help="list the registered backbones",
        description="List the backbones built-in and installed plugins register.",
    )
    backbones.add_argument(
        "pattern", nargs="?", default="*", metavar="PATTERN", help="e.g. 'efficientnet*'"
    )
    backbones.set_defaults(handler=run_backbones)


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a package on a split and print the report.

    :param args: the parsed options.
    :returns: the exit code.
    """
    import attrs

    from food_recognition.cli import CLIError
    from food_recognition.datasets import load_dataset_from_config
    from food_recognition.evaluation import evaluate
    from food_recognition.package import load_package

    if args.batch_size < 1:
        raise CLIError(f"--batch-size {args.batch_size}: must be at least 1")
    package = load_package(args.package)
    tta = _tta_config(args, package)
    resolve(attrs.evolve(package.config, tta=tta or package.config.tta))  # before the data
    dataset = load_dataset_from_config(attrs.evolve(package.config.data, path=args.data))
    split = getattr(dataset, args.split)
    report = evaluate(
        package,
        split,
        batch_size=args.batch_size,
        tta=tta,
        save=not args.no_save,
        split_name=args.split,
        progress=progress_line("evaluating", "images"),
    )
    if args.json:
        print(json.dumps(json_ready(report.to_dict()), indent=2, allow_nan=False))
        return 0
    print(report.summary())
    for pair in report.final.most_confused[:5]:
        print(f"  confused: {pair.true_class} -> {pair.predicted_class} ({pair.count} images)")
    if report.plots:
        print(f"plots: {Path(next(iter(report.plots.values()))).parent}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """Print the top-k classes of each image; bad images get one error line.

    :param args: the parsed options.
    :returns: 0, or 1 when any image could not be read.
    """
    from food_recognition.cli import CLIError
    from food_recognition.datasets.images import ImageError
    from food_recognition.package import load_package

    if args.top_k < 1:
        raise CLIError(f"--top-k {args.top_k}: must be at least 1")
    package = load_package(args.package)
    failed = 0
    for name in args.images:
        try:
            # Bytes, not the path: the error line names the file once, as the shell gave it.
            prediction = package.classify(Path(name).read_bytes(), top_k=args.top_k)
        except (OSError, ImageError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            print(f"error: {name}: {reason}", file=sys.stderr)
            failed += 1
            continue
        if args.json:
            row = {
                "image": name,
                "predictions": [
                    {"class": score.name, "label": score.label, "probability": score.probability}
                    for score in prediction.top_k
                ],
            }
            print(json.dumps(row, allow_nan=False))
            continue
        print(name)
        for rank, score in enumerate(prediction.top_k, start=1):
            print(f"  {rank}. {score.label:<30} {100 * score.probability:6.2f}%")
    return 1 if failed else 0


def run_backbones(args: argparse.Namespace) -> int:
    """Print the backbone table: name, input size, preprocessing, plugin, description.

    :param args: the parsed options.
    :returns: the exit code (1 when nothing matches the pattern).
    """
    from food_recognition.plugins import get_plugin_manager

    manager = get_plugin_manager()
    register = manager.backbones
    origins = dict(manager.plugins())
    names = register.names(args.pattern)
    if not names:
        print(f"no backbone matches {args.pattern!r}; available: {', '.join(register.names())}")
        return 1
    rows = [("name", "input", "preprocessing", "plugin", "description")]
    for name in names:
        spec = register.get(name)
        owner = register.owner(name)
        origin = origins.get(owner, "registered in code")
        plugin = origin if origin == "built-in" else f"{owner} ({origin})"
        rows.append(
            (name, str(spec.default_input_size), spec.preprocessing, plugin, spec.description)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[4]]).rstrip())
    return 0


def json_ready(value: Any) -> Any:
    """``value`` with every NaN or infinity as ``None``: JSON has no NaN, and a
    diverged model's log loss is one.

    >>> json_ready({"log_loss": float("nan"), "top1": [0.5, float("inf")]})
    {'log_loss': None, 'top1': [0.5, None]}

    :param value: plain data (dicts, lists, numbers, strings).
    :returns: the same data, strict-JSON ready.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value


# -- helpers -------------------------------------------------------------------


def _tta_config(args: argparse.Namespace, package: ModelPackage) -> TTAConfig | None:
    import attrs

    from food_recognition.cli import CLIError
    from food_recognition.config import with_overrides

    if args.no_tta:
        return None
    config = package.config.tta
    overrides: dict[str, Any] = {}
    if args.tta is not None:
        overrides["policy"] = args.tta
        if args.tta != config.policy:
            config = attrs.evolve(config, options={})
    if args.tta_threshold is not None:
        overrides["threshold"] = args.tta_threshold
    for item in args.tta_option:
        key, sep, value = item.partition("=")
        if not sep:
            raise CLIError(f"--tta-option {item!r}: expected NAME=VALUE, e.g. passes=10")
        overrides[f"options.{key.strip()}"] = value
    config = with_overrides(config, overrides) if overrides else config
    if config.policy == "identity" and args.tta is None:
        return None
    return config
