"""Every configuration field as a command-line option, and back to a RunConfig.

``food-recognition train`` and ``azure submit`` share this: ``--config FILE``
reads a YAML :class:`~food_recognition.config.RunConfig`, then each field can
be set as ``--model.backbone mobilenet_v3_small`` and policy options as
``--set augment.options.rotation=40``. Later options win.
"""

from __future__ import annotations

import argparse
from typing import Any

import attrs

from food_recognition.config import (
    ConfigError,
    RunConfig,
    field_paths,
    load_yaml,
    with_overrides,
)

_PREFIX = "config:"


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--config``, ``--set`` and one ``--section.field`` option per config field."""
    parser.add_argument("--config", metavar="FILE", help="a RunConfig YAML file")
    parser.add_argument(
        "--set",
        metavar="PATH=VALUE",
        action="append",
        default=[],
        help="set any field by dotted path, e.g. augment.options.rotation=40 (repeatable)",
    )
    groups: dict[str, Any] = {}
    for path, field in field_paths(RunConfig).items():
        section = path.split(".")[0]
        if section not in groups:
            groups[section] = parser.add_argument_group(f"{section} configuration")
        if path.endswith(".options"):
            continue  # set through --set section.options.NAME=VALUE
        default = field.default
        # Factories (nested configs, option maps) have no one-line default to show.
        shown = not isinstance(default, attrs.Factory) and default is not attrs.NOTHING  # type: ignore[arg-type]
        groups[section].add_argument(
            f"--{path}",
            dest=_PREFIX + path,
            metavar=path.split(".")[-1].upper(),
            default=None,
            help=f"default: {default!r}" if shown else None,
        )


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The RunConfig the parsed options describe.

    :raises food_recognition.config.ConfigError: a field path or value that is not allowed.
    """
    config = load_yaml(RunConfig, args.config) if args.config else RunConfig()
    overrides: dict[str, Any] = {}
    for key, value in vars(args).items():
        if key.startswith(_PREFIX) and value is not None:
            overrides[key[len(_PREFIX) :]] = value
    for item in args.set:
        path, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected PATH=VALUE, e.g. training.epochs=3")
        overrides[path.strip()] = value
    return with_overrides(config, overrides) if overrides else config
