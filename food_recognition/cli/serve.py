"""``food-recognition serve PACKAGE`` (Azure ML's inference server) and ``export PACKAGE DIR``.

Runs :mod:`food_recognition.serving.score` (the scoring script an Azure ML
endpoint runs) under ``azmlinfsrv`` on a loopback port: ``POST /score`` with
image bytes, ``GET /`` for liveness/readiness. It prints the scoring URI once
the model is loaded, and exits with an error if the package cannot be loaded.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from food_recognition.cli import CLIError
from food_recognition.package import resolve_package
from food_recognition.serving.server import DEFAULT_THREADS

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``serve`` subcommand."""
    parser = subparsers.add_parser(
        "serve",
        help="serve a model package locally (Azure ML's inference server)",
        description="Serve a model package with azmlinfsrv running the same scoring script as "
        "an Azure ML endpoint. POST image bytes (JPEG, PNG, WebP) or JSON "
        '{"image": "<base64>"} to /score; GET / answers once the model is loaded.',
    )
    parser.add_argument("package", metavar="PACKAGE", help="a model package folder")
    parser.add_argument("--port", type=int, default=5001, help="TCP port (default: 5001)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default: 127.0.0.1, loopback only; 0.0.0.0 for every one)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes, each with its own model"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help=f"threads per worker: requests in flight at once (default: {DEFAULT_THREADS})",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds one request may take (default: 60)"
    )
    parser.add_argument(
        "--read-timeout",
        type=float,
        help="seconds the request body may take to arrive, then 408 (default: 30)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        help="most images scored in one forward pass; 1 turns micro-batching off (default: 8)",
    )
    parser.add_argument(
        "--batch-wait-ms",
        type=float,
        help="longest a request waits for others to share its forward pass (default: 5)",
    )
    parser.add_argument("--max-bytes", type=int, help="largest image in bytes")
    parser.add_argument("--max-pixels", type=int, help="largest image in pixels")
    parser.add_argument("--blob-account-url", help="storage account that blob requests read from")
    parser.add_argument(
        "--blob-containers",
        help="comma-separated containers blob requests may name (none by default)",
    )
    parser.set_defaults(handler=run_serve)

    export = subparsers.add_parser(
        "export",
        help="export a model package to SavedModel, ONNX or LiteRT",
        description="Export a package's model (preprocessing inside) and check each export "
        "gives the package's probabilities.",
    )
    export.add_argument("package", metavar="PACKAGE", help="a model package folder")
    export.add_argument("out", metavar="DIR", help="where to write the exports")
    export.add_argument(
        "--format",
        action="append",
        choices=("saved_model", "onnx", "litert"),
        help="a format (repeat for several; default: all three)",
    )
    export.set_defaults(handler=run_export)


def run_serve(args: argparse.Namespace) -> int:
    """Start the server, wait until the model is loaded, then serve until interrupted."""
    from food_recognition.serving.batching import ENV_BATCH_SIZE, ENV_BATCH_WAIT_MS
    from food_recognition.serving.scoring import (
        ENV_BLOB_ACCOUNT_URL,
        ENV_BLOB_CONTAINERS,
        ENV_MAX_BYTES,
        ENV_MAX_PIXELS,
        ENV_READ_TIMEOUT_S,
        find_package_dir,
    )
    from food_recognition.serving.server import LocalServer

    package = find_package_dir(args.package)
    resolve_package(package)  # a missing plugin distribution or a bad name: one line
    if not 1 <= args.port <= 65535:
        raise CLIError(f"--port {args.port} is not a TCP port (1 to 65535)")
    if args.workers < 1:
        raise CLIError("--workers must be at least 1")
    if args.threads < 1:
        raise CLIError("--threads must be at least 1")
    if args.batch_size is not None and args.batch_size < 1:
        raise CLIError("--batch-size must be at least 1 (1 turns micro-batching off)")
    if args.batch_wait_ms is not None and not 0 <= args.batch_wait_ms <= 1000:
        raise CLIError("--batch-wait-ms must be 0 to 1000")
    if args.read_timeout is not None and not 0 < args.read_timeout < 3600:
        raise CLIError("--read-timeout must be more than 0 and under 3600 seconds")
    env: dict[str, str] = {}
    for value, name in (
        (args.max_bytes, ENV_MAX_BYTES),
        (args.max_pixels, ENV_MAX_PIXELS),
        (args.blob_account_url, ENV_BLOB_ACCOUNT_URL),
        (args.blob_containers, ENV_BLOB_CONTAINERS),
        (args.read_timeout, ENV_READ_TIMEOUT_S),
        (args.batch_size, ENV_BATCH_SIZE),
        (args.batch_wait_ms, ENV_BATCH_WAIT_MS),
    ):
        if value is not None:
            env[name] = str(value)
    server = LocalServer(
        package,
        port=args.port,
        host=args.host,
        workers=args.workers,
        threads=args.threads,
        env=env,
        timeout_s=args.timeout,
        echo=True,
    )
    server.start()
    try:
        server.wait_ready()
    except BaseException:  # a ServerError is printed as one line by the CLI
        server.stop()
        raise
    print(f"serving {package} at {server.scoring_uri} (health: {server.health_uri})", flush=True)
    print("press Ctrl-C to stop", file=sys.stderr, flush=True)
    # A plain SIGTERM would end this process without stopping the server's own process group.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        return server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
        return 0


def run_export(args: argparse.Namespace) -> int:
    """Export the package and print each format's path and its distance from the package."""
    from food_recognition.export import export_package

    results = export_package(
        args.package, args.out, formats=args.format or ("saved_model", "onnx", "litert")
    )
    for result in results:
        print(f"{result.format}: {result.path} (max |diff| {result.max_abs_diff:.1e})")
    return 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
