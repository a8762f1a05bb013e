"""The local path in Python: data -> training -> evaluation with TTA -> served prediction.

Run it with ``python examples/local_end_to_end.py`` (a few minutes on a CPU),
or with ``--quick`` for a smoke run. Pass ``--data /path/to/food-101`` to use
the real data set. Every call is the public API; ``food-recognition demo``
runs the same path with Blob Storage (Azurite) and the local compute target
in between.

Each variant works in its own folder (``runs/local-example/digits-quick``,
``digits-full``, ``<data folder name>-full``, ...), where a rerun resumes.
A ``--workdir`` that holds a run with other settings is refused, because
resuming it would return that run's model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from food_recognition.config import RunConfig, load_yaml, save_yaml, to_dict, with_overrides
from food_recognition.datasets import load_dataset
from food_recognition.datasets.sample import write_digits_sample
from food_recognition.evaluation import evaluate
from food_recognition.package import load_package
from food_recognition.serving.client import ScoringClient
from food_recognition.serving.server import LocalServer
from food_recognition.training import train


def default_workdir(data: Path | None, quick: bool) -> Path:
    """The variant's own folder: digits or the data folder's name, quick or full."""
    name = "digits" if data is None else data.resolve().name
    return Path("runs/local-example") / f"{name}-{'quick' if quick else 'full'}"


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def claim_workdir(workdir: Path, config: RunConfig) -> None:
    """Record ``config`` in ``workdir/run.yaml``, or exit (code 2) if another config made it.

    Training resumes what it finds in its folder, so a folder that another
    configuration trained in would silently give back that run's model.
    """
    record = workdir / "run.yaml"
    if record.is_file():
        before = _flat(to_dict(load_yaml(RunConfig, record)))
        now = _flat(to_dict(config))
        changed = [
            f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in now if before.get(k) != now.get(k)
        ]
        if changed:
            print(
                f"error: {workdir} holds a run with other settings ({'; '.join(changed)}): "
                f"pass another --workdir, or delete {workdir} to start over",
                file=sys.stderr,
            )
            raise SystemExit(2)
        return
    workdir.mkdir(parents=True, exist_ok=True)
    save_yaml(config, record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, help="a Food-101-layout folder (default: digits)")
    parser.add_argument(
        "--workdir", type=Path, help="default: runs/local-example/<data>-<quick|full>"
    )
    parser.add_argument("--quick", action="store_true", help="tiny settings for a smoke run")
    args = parser.parse_args()
    workdir: Path = args.workdir or default_workdir(args.data, args.quick)

    # 1. Data: a real Food-101 folder, or the digits sample in the same layout.
    data = args.data or workdir / "digits"

    # 2. One value describes the run; the CLI and YAML files make the same value.
    config = with_overrides(
        RunConfig(),
        {
            "data.path": str(data),
            "data.max_per_class": 12 if args.quick else None,
            "model.backbone": "mobilenet_v3_small",
            "model.input_size": 48,
            # From scratch in a few hundred steps, batch-norm statistics must keep up.
            "model.batch_norm_momentum": 0.9,
            "training.epochs": 1 if args.quick else 5,
            "training.steps_per_epoch": 3 if args.quick else None,
            "training.early_stopping_patience": None,
            "tta.policy": "flip",
        },
    )
    claim_workdir(workdir, config)  # before anything is written or trained
    if args.data is None:
        write_digits_sample(data, size=48)

    # 3. Train: checkpoints, MLflow metrics and the model package under workdir.
    package_dir = train(config, workdir / "model")

    # 4. Evaluate on the test split, single view and with TTA; plots go into the package.
    package = load_package(package_dir)
    test = load_dataset(data).test
    report = evaluate(package, test, tta=config.tta, plots_dir=package_dir / "plots")
    print(f"top-1 {report.metrics.accuracy:.2%} single view", end="")
    if report.tta_metrics is not None:
        print(f", {report.tta_metrics.accuracy:.2%} with {config.tta.policy} TTA")

    # 5. Serve the package with Azure's inference server and classify one photo.
    with LocalServer(package_dir) as server:
        answer = ScoringClient(server.scoring_uri).predict(Path(test.paths[0]).read_bytes())
    print(f"{test.paths[0]} -> {answer.top.label} ({answer.top.probability:.2f})")


if __name__ == "__main__":
    main()
