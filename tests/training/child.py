"""A training run in its own process, for the resume and multi-worker tests.

``python -m tests.training.child OUTPUT RESULT.json [--per-class N] [--epochs N]
[--every N]``: trains ``tiny_cnn`` on in-memory data with the strategy the
environment gives (``TF_CONFIG``), and writes the package path and the final
``optimizer.iterations`` to ``RESULT.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from food_recognition.config import RunConfig, with_overrides
from food_recognition.training import run_training
from food_recognition.training.distribute import strategy_from_environment
from tests.training.tiny import register_tiny, tiny_data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("result")
    parser.add_argument("--per-class", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--every", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    strategy, role = strategy_from_environment()
    register_tiny()
    config = with_overrides(
        RunConfig(),
        {
            "model.backbone": "tiny_cnn",
            "data.batch_size": 4,
            "training.epochs": args.epochs,
            "training.checkpoint_every_steps": args.every,
            "training.early_stopping_patience": "none",
        },
    )
    built: list[Any] = []

    def build(model_config: Any, num_classes: int) -> Any:
        from food_recognition.models import build as build_model

        built.append(build_model(model_config, num_classes))
        return built[-1]

    data = tiny_data(per_class=args.per_class, batch_size=4 * strategy.num_replicas_in_sync)
    package = run_training(
        config, args.output, data, strategy=strategy, role=role, build_model=build
    )
    result = {"package": str(package), "iterations": int(built[0].optimizer.iterations.numpy())}
    Path(args.result).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
