"""``food-recognition train`` and ``food-recognition lr-find``.

``train`` is the training entry point every compute target runs::

    food-recognition train --config run.yaml --output DIR [--data.path PATH] [--SECTION.FIELD V]...

(the same as ``python -m food_recognition.training ...``). It prints the model
package folder on its last line. Running it again with the same ``--output``
resumes from the last checkpoint.
"""

from __future__ import annotations

import argparse
from typing import Any

from food_recognition.cli.config_args import add_config_arguments, config_from_args
from food_recognition.datasets.layouts import check_data_path
from food_recognition.plugins.resolve import resolve

__all__ = ["add_train_arguments", "register", "run_lr_find", "run_train"]


def register(subparsers: Any) -> None:
    """Add the ``train`` and ``lr-find`` subcommands."""
    train = subparsers.add_parser(
        "train",
        help="train a model and write its package",
        description="Train the model a RunConfig describes (a YAML file and/or options) and "
        "write its package to OUTPUT/package. Re-running with the same --output resumes.",
    )
    add_train_arguments(train)
    train.set_defaults(handler=run_train)

    finder = subparsers.add_parser(
        "lr-find",
        help="sweep the learning rate and suggest one",
        description="Train a fresh model for a few hundred steps with an exponentially "
        "growing learning rate; plot loss against it and suggest a value.",
    )
    finder.add_argument("--output", metavar="DIR", default=".", help="where lr_finder.png goes")
    finder.add_argument("--steps", type=int, default=200, help="steps of the sweep (default 200)")
    finder.add_argument("--min-lr", type=float, default=1e-7, help="first rate (default 1e-7)")
    finder.add_argument("--max-lr", type=float, default=10.0, help="last rate (default 10)")
    add_config_arguments(finder)
    finder.set_defaults(handler=run_lr_find)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """``--output`` plus every configuration option (shared with ``python -m``)."""
    parser.add_argument(
        "--output",
        metavar="DIR",
        required=True,
        help="output folder: package/, checkpoints/, mlruns/ (re-run to resume)",
    )
    add_config_arguments(parser)


def run_train(args: argparse.Namespace) -> int:
    """Handle ``train``: print the package folder."""
    config = config_from_args(args)
    resolve(config)  # names and options, before the data scan and the MLflow run
    check_data_path(config)
    from food_recognition.training import train

    package = train(config, args.output)
    print(f"model package: {package}")
    return 0


def run_lr_find(args: argparse.Namespace) -> int:
    """Handle ``lr-find``: print the suggested rate and the plot."""
    from food_recognition.cli import CLIError

    config = config_from_args(args)
    resolve(config)
    check_data_path(config)
    from food_recognition.training import find_learning_rate

    try:  # its argument checks (min_lr < max_lr, steps) raise plain ValueErrors
        result = find_learning_rate(
            config, args.output, min_lr=args.min_lr, max_lr=args.max_lr, steps=args.steps
        )
    except ValueError as error:
        raise CLIError(str(error)) from error
    print(f"suggested learning rate: {result.suggested:.3g}")
    print(f"plot: {result.plot}")
    print(f"train with: --training.learning_rate {result.suggested:.3g}")
    return 0
