"""``food-recognition azure ...``: jobs (submit, status, download) and deployment."""

from __future__ import annotations

from typing import Any

from food_recognition.cli import azure_check, azure_deploy, azure_jobs


def register(subparsers: Any) -> None:
    """Add the ``azure`` command group; its subcommands come from two modules."""
    parser = subparsers.add_parser(
        "azure",
        help="train, sweep and deploy on Azure ML (or the local target)",
        description="Submit training jobs and sweeps, follow them, fetch their outputs, "
        "and deploy a model package to an online endpoint.",
    )
    group = parser.add_subparsers(title="azure commands", metavar="COMMAND")
    parser.set_defaults(handler=lambda _args: parser.print_help() or 2)
    azure_jobs.register(group)
    azure_deploy.register(group)
    azure_check.register(group)
