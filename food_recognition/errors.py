"""One error family: a caller catches :class:`FoodRecognitionError` and gets them all.

Every exception the library raises on purpose derives from
:class:`FoodRecognitionError`, through one class per area, so a caller can
catch as widely or as narrowly as it needs (as ``httpx.HTTPError`` works)::

    FoodRecognitionError
    ├── ConfigError (also ValueError)        food_recognition.config
    │   └── JobSpecError, WeightsError, SweepError, TTAOptionError,
    │       PolicyOptionError, WorkspaceError
    ├── DataError
    │   ├── DatasetLayoutError, ImageError, TFRecordError (also ValueError)
    │   └── DownloadError                    food_recognition.datasets.download
    │       └── SourceError, ChecksumError, CorruptArchiveError,
    │           UnsafeArchiveError, ArchiveTooLargeError
    ├── TrainingError
    │   └── TrainingDataError, EvaluationError (also ValueError)
    ├── PackageError (also ValueError)       food_recognition.package
    │   └── ExportError (also RuntimeError)
    ├── PluginError
    │   └── DuplicateNameError (also ValueError), UnknownNameError (also LookupError)
    ├── ComputeError
    │   └── JobFailedError (also RuntimeError), JobTimeoutError (also TimeoutError)
    ├── CloudError
    │   └── BlobCredentialsError, BlobTransferError, DeployError, AzuriteNotFoundError,
    │       PreflightError, RetiredVMSizeError (also ValueError),
    │       EnvironmentContextError
    ├── ServingError
    │   └── ScoringError, RequestError, ModelDirError, ServerError
    └── CLIError                             food_recognition.cli

Each class keeps the built-in base it had before the family existed
(``ValueError``, ``LookupError``, ``RuntimeError``...), so ``except ValueError``
written against an older version still catches what it caught.

The message of every one of them is written for the person who has to fix the
problem: it names the input (a file, a field, a variable) and what to do, in
one line. The command line prints it as ``error: <message>`` and exits with
code 2, never with a traceback.

>>> from food_recognition.config import ConfigError, TrainingConfig
>>> try:
...     TrainingConfig(epochs=1.5)
... except FoodRecognitionError as error:
...     print(type(error).__name__, isinstance(error, ConfigError))
ConfigError True
"""

from __future__ import annotations

__all__ = [
    "CloudError",
    "ComputeError",
    "DataError",
    "FoodRecognitionError",
    "PluginError",
    "ServingError",
    "TrainingError",
    "one_line",
]


class FoodRecognitionError(Exception):
    """The base of every error the library raises on purpose; the message says what to fix."""


class DataError(FoodRecognitionError):
    """A data set, an image, a shard folder or a download that cannot be used."""


class TrainingError(FoodRecognitionError):
    """Training or evaluation cannot go on with the data or package it was given."""


class PluginError(FoodRecognitionError):
    """A registry lookup or registration failed (an unknown or duplicate name)."""


class ComputeError(FoodRecognitionError):
    """A job on a compute target failed or did not finish in time."""


class CloudError(FoodRecognitionError):
    """Azure: Blob Storage credentials or transfers, a workspace, a deployment, Azurite."""


class ServingError(FoodRecognitionError):
    """The scoring server, its model folder, or a request to a scoring URI."""


def one_line(error: BaseException) -> str:
    """The message of ``error`` as one line, for ``error: <message>`` on a terminal.

    A ``KeyError``'s message is its key's text without the quotes ``str`` adds;
    a message of several lines is joined with ``"; "`` (logs a server appended,
    a YAML parser's pointer), so the output stays one line.

    >>> one_line(ValueError("first\\n  second"))
    'first; second'

    :param error: any exception.
    :returns: its message on one line (its class name when it has none).
    """
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines) if lines else type(error).__name__
