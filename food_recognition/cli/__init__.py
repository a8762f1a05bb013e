"""The ``food-recognition`` command line: a thin layer over the Python API.

Each subcommand lives in its own module of this package, which exposes
``register(subparsers)``; it adds its parser and sets ``handler`` to a function
``handler(args) -> int`` (the exit code).

Every error a user can fix is printed as one line, ``error: <message>``, with
exit code 2, never as a traceback: any
:class:`~food_recognition.errors.FoodRecognitionError` (the library's whole
error family, :class:`CLIError` included), a file that is missing or cannot be
read, and a bad option (argparse's own errors, without the usage text that
would bury the message). Handlers do not catch and re-wrap library errors.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from food_recognition import __version__
from food_recognition.errors import FoodRecognitionError, one_line

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


#: Exit code of every error the user can fix (argparse's own, too).
USER_ERROR_EXIT = 2

#: Besides the library's family: files a user named that are missing or unreadable.
USER_OS_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


class CLIError(FoodRecognitionError):
    """An error in how a command was called; printed as ``error: <message>`` with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (subcommand parsers inherit it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(USER_ERROR_EXIT, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def user_message(error: BaseException) -> str:
    """The one line ``main`` prints for an error a user can fix (without ``error:``).

    :param error: a :class:`~food_recognition.errors.FoodRecognitionError` or
        one of :data:`USER_OS_ERRORS`.
    :returns: the message on one line; an ``OSError`` as ``FILE: REASON``.
    """
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    return one_line(error)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = _Parser(
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
        # A failed credential chain is reported in the one-line error; its warning
        # lists every credential tried, over many lines (shown with -v).
        logging.getLogger("azure.identity").setLevel(logging.ERROR)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        code: int = handler(args)
    except (FoodRecognitionError, *USER_OS_ERRORS) as error:
        print(f"error: {user_message(error)}", file=sys.stderr)
        return USER_ERROR_EXIT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code
