"""``food-recognition plugins``: the loaded plugins and what each contributes."""

from __future__ import annotations

import argparse
import json
from typing import Any

from food_recognition.plugins import get_plugin_manager


def register(subparsers: Any) -> None:
    """Add the ``plugins`` subcommand."""
    parser = subparsers.add_parser(
        "plugins",
        help="list loaded plugins and what each contributes",
        description="List built-in and installed plugins (entry-point group "
        "'food_recognition') and the backbones, policies and compute targets each adds.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the plugin table (or JSON); a broken plugin is listed with its reason."""
    manager = get_plugin_manager()
    contributions = manager.contributions()
    broken = {plugin.name: plugin.reason for plugin in manager.broken}
    if args.json:
        rows = [
            {
                "plugin": name,
                "origin": origin,
                "contributes": contributions.get(name, {}),
                **({"broken": broken[name]} if name in broken else {}),
            }
            for name, origin in manager.plugins()
        ]
        print(json.dumps(rows, indent=2))
        return 0
    for name, origin in manager.plugins():
        print(f"{name}  ({origin})" + ("  BROKEN" if name in broken else ""))
        if name in broken:
            print(f"    skipped: {broken[name]}")
        kinds = contributions.get(name, {})
        if not kinds and name not in broken:
            print("    (contributes nothing)")
        for kind, names in kinds.items():
            print(f"    {plural(kind)}: {', '.join(names)}")
    return 0


def plural(kind: str) -> str:
    """``"backbone"`` -> ``"backbones"``, ``"TTA policy"`` -> ``"TTA policies"``."""
    return kind[:-1] + "ies" if kind.endswith("y") else kind + "s"
