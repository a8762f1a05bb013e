"""``food-recognition data``: inspect, download, and move data sets to and from Blob Storage.

``data inspect PATH`` prints the layout, classes, images per split and per
class, and every skipped or normalized image with the reason (``--json`` for
scripts). ``data download SOURCE DEST`` fetches a URL or Google Drive id,
checks it and extracts it. ``data upload DIR --container NAME`` sends a tree to
Blob Storage as the original bytes, resumably; ``data download-blob`` brings a
container prefix back. Credentials: ``--account-url`` (signed in with
``az login`` or a managed identity) or ``AZURE_STORAGE_CONNECTION_STRING``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from food_recognition.cli import CLIError
from food_recognition.cli.progress import on_terminal, progress_line
from food_recognition.datasets.download import DEFAULT_MAX_RATIO


def register(subparsers: Any) -> None:
    """Add the ``data`` subcommand and its ``inspect``, ``download``, ``upload`` and
    ``download-blob`` subcommands."""
    parser = subparsers.add_parser(
        "data",
        help="inspect, download and upload data sets",
        description="Inspect a data-set folder, download one, or move one to and from Azure "
        "Blob Storage (credentials: --account-url, or AZURE_STORAGE_CONNECTION_STRING).",
    )
    commands = parser.add_subparsers(title="data commands", metavar="COMMAND")
    parser.set_defaults(handler=lambda args: _help(parser))

    inspect = commands.add_parser(
        "inspect",
        help="layout, classes, counts per split, skipped images",
        description="Read a data-set folder the way training will, and report what it holds.",
    )
    inspect.add_argument("path", metavar="PATH", help="the data-set folder")
    inspect.add_argument(
        "--layout",
        default="auto",
        choices=("auto", "food101", "class_folders", "single_folder"),
        help="force a layout instead of detecting it",
    )
    inspect.add_argument("--validation-fraction", type=float, default=0.1, metavar="F")
    inspect.add_argument("--test-fraction", type=float, default=0.2, metavar="F")
    inspect.add_argument("--seed", type=int, default=42)
    inspect.add_argument("--max-per-class", type=int, default=None, metavar="N")
    inspect.add_argument(
        "--no-scan", action="store_true", help="list files only; do not check the images"
    )
    inspect.add_argument("--json", action="store_true", help="print JSON for scripts")
    inspect.set_defaults(handler=_inspect)

    download = commands.add_parser(
        "download",
        help="download (and extract) a data set from a URL or Google Drive id",
        description="Download SOURCE into DEST with resume, an optional SHA-256 check, and "
        "safe extraction of zip and tar archives.",
    )
    download.add_argument("source", metavar="SOURCE", help="an http(s) URL or a Google Drive id")
    download.add_argument("dest", metavar="DEST", help="the folder to download into")
    download.add_argument("--sha256", metavar="HEX", help="the expected SHA-256 of the file")
    download.add_argument("--no-extract", action="store_true", help="keep the archive as it is")
    download.add_argument("--quiet", action="store_true", help="no progress bar")
    download.add_argument(
        "--max-bytes",
        type=int,
        metavar="N",
        help="refuse an archive whose files add up to more than N bytes extracted "
        "(default: the free space of DEST's disk)",
    )
    download.add_argument(
        "--max-ratio",
        type=float,
        metavar="R",
        help=f"refuse an archive that extracts to more than R times its own size "
        f"(a zip bomb; default {DEFAULT_MAX_RATIO:g}; 0 turns the check off)",
    )
    download.set_defaults(handler=_download)

    upload = commands.add_parser(
        "upload",
        help="upload a data-set folder to Blob Storage (original bytes, resumable)",
        description="Upload every file under DIR to a container; files already there with "
        "the same MD5 are skipped, so running it again finishes an interrupted upload.",
    )
    upload.add_argument("dir", metavar="DIR", help="the folder to upload")
    _blob_arguments(upload)
    upload.set_defaults(handler=_upload)

    fetch = commands.add_parser(
        "download-blob",
        help="download a Blob Storage prefix to a folder",
        description="Download every blob under --prefix into DEST, keeping relative paths.",
    )
    fetch.add_argument("dest", metavar="DEST", help="the folder to download into")
    _blob_arguments(fetch)
    fetch.set_defaults(handler=_download_blob)


def _blob_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--container", required=True, help="the container name")
    parser.add_argument("--prefix", default="", help="a folder inside the container")
    parser.add_argument(
        "--account-url",
        metavar="URL",
        help="https://<account>.blob.core.windows.net (DefaultAzureCredential); "
        "default: the connection string in AZURE_STORAGE_CONNECTION_STRING",
    )
    parser.add_argument("--max-concurrency", type=int, default=8, metavar="N")


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


@contextmanager
def _argument_errors() -> Iterator[None]:
    """Plain ValueErrors the loaders raise for out-of-range arguments (fractions)."""
    try:
        yield
    except ValueError as error:
        raise CLIError(str(error)) from error


def _inspect(args: argparse.Namespace) -> int:
    from food_recognition.datasets import load_dataset

    with _argument_errors():
        dataset = load_dataset(
            args.path,
            layout=args.layout,
            validation_fraction=args.validation_fraction,
            test_fraction=args.test_fraction,
            seed=args.seed,
            max_per_class=args.max_per_class,
            scan=not args.no_scan,
            progress=None if args.json else progress_line("checking images"),
        )
    summary = dataset_summary(dataset)
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        print()
    else:
        print(format_summary(summary))
    return 0


def dataset_summary(dataset: Any) -> dict[str, Any]:
    """A :class:`~food_recognition.datasets.Dataset` as plain JSON-ready data.

    :param dataset: the data set.
    :returns: root, layout, classes, human labels, counts per split and per
        class, skipped and normalized images.
    """
    splits = dataset.splits
    return {
        "root": str(dataset.root),
        "layout": dataset.layout,
        "classes": list(dataset.classes),
        "human_labels": list(dataset.human_labels),
        "counts": {name: len(split) for name, split in splits.items()},
        "per_class": {name: split.counts() for name, split in splits.items()},
        "skipped": [{"path": s.path, "reason": s.reason} for s in dataset.skipped],
        "normalized": [
            {"path": n.path, "normalized_path": n.normalized_path, "reason": n.reason}
            for n in dataset.normalized
        ],
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The human-readable report of ``data inspect``.

    :param summary: what :func:`dataset_summary` returns.
    :returns: the text, several lines.
    """
    counts = summary["counts"]
    per_class = summary["per_class"]
    width = max(len(name) for name in summary["classes"])
    lines = [
        f"root:    {summary['root']}",
        f"layout:  {summary['layout']}",
        f"classes: {len(summary['classes'])}",
        f"images:  train {counts['train']}, validation {counts['validation']}, "
        f"test {counts['test']}",
        "",
        f"{'class':<{width}}  {'train':>7} {'valid':>7} {'test':>7}",
    ]
    for name in summary["classes"]:
        row = [per_class[split][name] for split in ("train", "validation", "test")]
        lines.append(f"{name:<{width}}  {row[0]:>7} {row[1]:>7} {row[2]:>7}")
    lines.append("")
    lines.append(f"skipped: {len(summary['skipped'])}")
    lines.extend(f"  {item['path']}: {item['reason']}" for item in summary["skipped"])
    lines.append(f"normalized (read from a lossless PNG copy): {len(summary['normalized'])}")
    lines.extend(f"  {item['path']}: {item['reason']}" for item in summary["normalized"])
    return "\n".join(lines)


def _download(args: argparse.Namespace) -> int:
    from food_recognition.datasets.download import download

    if args.max_bytes is not None and args.max_bytes < 1:
        raise CLIError(f"--max-bytes {args.max_bytes}: must be at least 1")
    if args.max_ratio is not None and not (args.max_ratio >= 0 and args.max_ratio < float("inf")):
        raise CLIError(f"--max-ratio {args.max_ratio}: must be a number >= 0 (0: no limit)")
    path = download(
        args.source,
        args.dest,
        sha256=args.sha256,
        extract=not args.no_extract,
        quiet=args.quiet or not on_terminal(),  # gdown's bar is for a terminal only
        max_bytes=args.max_bytes,
        max_ratio=DEFAULT_MAX_RATIO if args.max_ratio is None else args.max_ratio or None,
    )
    print(path)
    return 0


def _client(args: argparse.Namespace) -> Any:
    from food_recognition.azure.blob import blob_service_client

    if args.max_concurrency < 1:
        raise CLIError(f"--max-concurrency {args.max_concurrency}: must be at least 1")
    return blob_service_client(args.account_url)


def _upload(args: argparse.Namespace) -> int:
    from pathlib import Path

    from food_recognition.azure.blob import upload_tree

    if not Path(args.dir).is_dir():  # before any credentials or network
        raise CLIError(f"{args.dir}: not a folder to upload")
    report = upload_tree(
        args.dir,
        args.container,
        prefix=args.prefix,
        client=_client(args),
        max_concurrency=args.max_concurrency,
        progress=progress_line("uploading", "files"),
    )
    print(
        f"uploaded {len(report.uploaded)} files ({report.bytes_uploaded} bytes), "
        f"skipped {len(report.skipped)} already present, to {report.container}/{report.prefix}"
    )
    return 0


def _download_blob(args: argparse.Namespace) -> int:
    from food_recognition.azure.blob import download_prefix

    report = download_prefix(
        args.container,
        args.prefix,
        args.dest,
        client=_client(args),
        max_concurrency=args.max_concurrency,
        progress=progress_line("downloading", "files"),
    )
    print(
        f"downloaded {len(report.downloaded)} files ({report.bytes_downloaded} bytes), "
        f"skipped {len(report.skipped)} already present, into {report.dest}"
    )
    return 0
