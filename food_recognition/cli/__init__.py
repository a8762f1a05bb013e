"""The ``food-recognition`` command line: a thin layer over the Python API.

Each subcommand lives in its own module of this package, which exposes
``register(subparsers)``; it adds its parser and sets ``handler`` to a function
``handler(args) -> int`` (the exit code). Errors a user can fix are raised as
:class:`CLIError` (or a library error listed in :data:`USER_ERRORS`) and
printed as one line, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from food_recognition import __version__

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "food_recognition.cli.demo",
    "food_recognition.cli.data",
    "food_recognition.cli.train",
    "food_recognition.cli.evaluate",
    "food_recognition.cli.serve",
    "food_recognition.cli.azure",
    "food_recognition.cli.plugins",
)


class CLIError(Exception):
    """An error the user can fix; printed as ``error: <message>`` with exit code 2."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from food_recognition.config import ConfigError
    from food_recognition.plugins import DuplicateNameError, UnknownNameError

    return (CLIError, ConfigError, UnknownNameError, DuplicateNameError, FileNotFoundError)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="food-recognition",
        description="Food-photo classification from raw data to a served endpoint.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    # Before anything imports TensorFlow: keep its C++ start-up chatter out of the
    # output, unless -v asks for everything (its warnings report skipped images).
    words = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if {"-v", "--verbose"} & {*words} else "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # The Azure SDKs log every HTTP request at INFO; keep their warnings only.
        for noisy in ("azure", "azureml", "urllib3", "mlflow", "absl"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        code: int = handler(args)
    except _user_errors() as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code
