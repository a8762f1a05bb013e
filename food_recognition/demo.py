"""The whole mission on one machine: the README's first command.

:func:`run_demo` composes the public API the way a user would, step by step:

1. data: a real Food-101 folder (``data=``) or the digits sample
   (:func:`~food_recognition.datasets.sample.write_digits_sample`);
2. storage: start Azurite, upload the tree to a Blob container, read it back
   as a training node's mounted input would see it;
3. training: a :class:`~food_recognition.compute.job.TrainingJob` on the
   ``local`` compute target, the same command line an Azure ML job runs;
4. evaluation with and without test-time augmentation, plots in the package;
5. serving: Azure's inference server on a loopback port, one photo classified
   over HTTP;
6. a summary of where everything is; everything started is stopped.

With ``azure=True`` steps 2 and 3 use a real storage account and Azure ML
workspace instead (see the Azure tutorial); the rest is unchanged, because the
model package is the same either way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from food_recognition.config import ConfigError, RunConfig, with_overrides

if TYPE_CHECKING:
    from food_recognition.evaluation import EvaluationReport
    from food_recognition.serving.client import Prediction

__all__ = ["DemoOptions", "DemoResult", "run_demo"]

_STEPS = 6
_CONTAINER = "food-recognition-demo"


@attrs.define(frozen=True)
class DemoOptions:
    """What the demo runs on and how long it trains.

    :param workdir: everything is written under this folder.
    :param data: a Food-101-layout (or class-folder) data set; ``None`` writes the digits sample.
    :param azure: upload to the storage account in ``AZURE_STORAGE_ACCOUNT_URL`` and
        train on the Azure ML workspace of ``config.json`` instead of locally.
    :param compute: the Azure ML cluster name (with ``azure``).
    :param backbone: a registered backbone.
    :param weights: ``None``, ``"imagenet"`` or a weights file.
    :param image_size: model input size in pixels.
    :param epochs: training epochs.
    :param batch_size: images per batch.
    :param max_per_class: training images per class (``None``: all).
    :param tta: the TTA policy evaluated beside the single view and served by
        default; ``None`` picks ``flip`` for photos and ``five_crop`` for the
        digits sample (a mirrored digit is another digit).
    :param serve: start the local inference server and classify a photo.
    """

    workdir: Path = attrs.field(default=Path("demo-output"), converter=Path)
    data: Path | None = attrs.field(default=None, converter=attrs.converters.optional(Path))
    azure: bool = False
    compute: str = "gpu-cluster"
    backbone: str = "mobilenet_v3_small"
    weights: str | None = None
    image_size: int = 64
    epochs: int = 10
    batch_size: int = 32
    max_per_class: int | None = None
    tta: str | None = None
    serve: bool = True


@attrs.define(frozen=True)
class DemoResult:
    """What the demo produced.

    :param data_root: the data set that was trained on (as the training node saw it).
    :param package_dir: the model package.
    :param report: the evaluation, single view and with TTA.
    :param image: the photo sent to the endpoint.
    :param prediction: the endpoint's answer (``None`` when ``serve=False``).
    """

    data_root: Path
    package_dir: Path
    report: EvaluationReport
    image: Path
    prediction: Prediction | None


def run_demo(options: DemoOptions, *, echo: Callable[[str], None] = print) -> DemoResult:
    """Run the six steps and return what they produced.

    :param options: see :class:`DemoOptions`.
    :param echo: where progress lines go.
    :raises food_recognition.azure.emulator.AzuriteNotFoundError: Azurite is not
        installed (``npm ci`` in the repository installs it).
    :raises ~food_recognition.config.ConfigError: ``azure`` is set without
        ``AZURE_STORAGE_ACCOUNT_URL`` (checked before anything is written).
    """
    account_url = _azure_account_url() if options.azure else ""
    started = time.monotonic()
    workdir = options.workdir.absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    step = _Progress(echo, started)

    step("data", "preparing the data set")
    source = _prepare_data(options, workdir, echo)

    config = _run_config(options)
    if options.azure:
        step("storage", "uploading to the Azure storage account")
        blob_url = _upload_to_azure(source, account_url, echo)
        step("training", f"training on Azure ML cluster {options.compute!r}")
        package_dir = _train_on_azure(config, blob_url, options, workdir, echo)
        node_data = source
    else:
        with _azurite(workdir) as connection:
            step("storage", "uploading to Blob Storage (Azurite on loopback)")
            node_data = _upload_and_mount(source, workdir, connection, echo)
        step("training", f"training {options.backbone} on the local compute target")
        package_dir = _train_locally(config, node_data, workdir, echo)

    step("evaluation", f"evaluating with and without TTA ({config.tta.policy})")
    report = _evaluate(package_dir, node_data, config, echo)

    image = _pick_photo(node_data, config)
    prediction = None
    if options.serve:
        step("serving", "serving the package with azmlinfsrv and classifying a photo")
        prediction = _serve_and_classify(package_dir, image, echo)
    else:
        step("serving", "skipped (serve=False)")

    step("summary", "done")
    echo(f"  data set:       {node_data}")
    echo(f"  model package:  {package_dir}")
    echo(f"  plots:          {package_dir / 'plots'}")
    echo(f"  MLflow runs:    {package_dir.parent}")
    echo(f"  photo sent:     {image}")
    if prediction is not None:
        top = prediction.top
        echo(f"  prediction:     {top.label} ({top.class_name}), p={top.probability:.3f}")
    echo(f"  total time:     {time.monotonic() - started:.0f} s")
    return DemoResult(node_data, package_dir, report, image, prediction)


class _Progress:
    def __init__(self, echo: Callable[[str], None], started: float) -> None:
        self.echo = echo
        self.started = started
        self.index = 0

    def __call__(self, name: str, what: str) -> None:
        self.index += 1
        elapsed = time.monotonic() - self.started
        self.echo(f"[{self.index}/{_STEPS}] {name}: {what}  (+{elapsed:.0f} s)")


def _run_config(options: DemoOptions) -> RunConfig:
    digits = options.data is None
    config = with_overrides(
        RunConfig(),
        {
            "data.batch_size": options.batch_size,
            "data.max_per_class": options.max_per_class,
            "data.validation_fraction": 0.1,
            "model.backbone": options.backbone,
            "model.weights": options.weights,
            "model.input_size": options.image_size,
            "model.dropout": 0.1,
            # From scratch in a few hundred steps: batch-norm statistics must keep up.
            "model.batch_norm_momentum": 0.9 if options.weights is None else None,
            "augment.policy": "default",
            # Digits are small and not mirror-symmetric: gentler crops, no flips.
            "augment.options.min_scale": 0.6 if digits else 0.08,
            "augment.options.horizontal_flip": not digits,
            "training.epochs": options.epochs,
            "training.learning_rate": 3e-3,
            "training.schedule": "one_cycle",
            "training.early_stopping_patience": None,
            "tta.policy": options.tta or ("five_crop" if digits else "flip"),
        },
    )
    return config


def _prepare_data(options: DemoOptions, workdir: Path, echo: Callable[[str], None]) -> Path:
    from food_recognition.datasets import load_dataset

    if options.data is not None:
        root = options.data
    else:
        from food_recognition.datasets.sample import write_digits_sample

        root = write_digits_sample(workdir / "sample-data", size=options.image_size)
        echo(
            "  sample: scikit-learn's handwritten digits (1,797 scans) as "
            f"{options.image_size}px JPEGs in the Food-101 layout -- real images, not food"
        )
    dataset = load_dataset(root)
    echo(
        f"  {root}: layout {dataset.layout}, {len(dataset.classes)} classes, "
        f"{len(dataset.train)} train / {len(dataset.validation)} validation / "
        f"{len(dataset.test)} test images, {len(dataset.skipped)} skipped"
    )
    return root


@contextlib.contextmanager
def _azurite(workdir: Path) -> Iterator[str]:
    from food_recognition.azure.emulator import run_azurite

    location = workdir / "azurite"
    shutil.rmtree(location, ignore_errors=True)
    with run_azurite(location) as azurite:
        yield azurite.connection_string


def _upload_and_mount(
    source: Path, workdir: Path, connection_string: str, echo: Callable[[str], None]
) -> Path:
    from azure.storage.blob import BlobServiceClient

    from food_recognition.azure.blob import download_prefix, upload_tree

    client = BlobServiceClient.from_connection_string(connection_string)
    report = upload_tree(source, _CONTAINER, prefix="food-101/", client=client)
    echo(
        f"  uploaded {len(report.uploaded)} files ({report.bytes_uploaded / 1e6:.1f} MB) "
        f"to container {_CONTAINER!r}; {len(report.skipped)} already there"
    )
    again = upload_tree(source, _CONTAINER, prefix="food-101/", client=client)
    echo(f"  upload again: {len(again.uploaded)} sent, {len(again.skipped)} skipped as identical")
    # What an Azure ML job sees as its mounted uri_folder input.
    mounted = workdir / "node-data"
    shutil.rmtree(mounted, ignore_errors=True)
    download_prefix(_CONTAINER, "food-101/", mounted, client=client)
    echo(f"  read back to {mounted} (the training node's view of the container)")
    return mounted


def _train_locally(
    config: RunConfig, data: Path, workdir: Path, echo: Callable[[str], None]
) -> Path:
    from food_recognition.compute import TrainingJob, get_target

    target = get_target("local", root=workdir / "runs")
    job = TrainingJob(config, data=data, target="local", experiment_name="demo")
    echo(f"  command: {job.command(data_path=str(data), output='<outputs>/model')}")
    return _run_job(target, job, workdir, echo)


def _run_job(target: Any, job: Any, workdir: Path, echo: Callable[[str], None]) -> Path:
    """Submit, stream the log, wait, fetch the model package: any compute target."""
    handle = target.submit(job)
    echo(f"  job {handle.job_id} on {job.target}")
    for line in target.stream_logs(handle):
        echo(f"  | {line.rstrip()}")
    status = target.wait(handle)
    if not status.succeeded:
        raise RuntimeError(f"training job {handle.job_id} failed: {status}")
    package: Path = target.download_outputs(handle, workdir / "model")
    return package


def _azure_account_url() -> str:
    account_url = os.environ.get("AZURE_STORAGE_ACCOUNT_URL")
    if not account_url:
        raise ConfigError(
            "--azure needs AZURE_STORAGE_ACCOUNT_URL=https://<account>.blob.core.windows.net "
            "(signed in with `az login`), and a workspace config.json"
        )
    return account_url


def _upload_to_azure(source: Path, account_url: str, echo: Callable[[str], None]) -> str:
    from food_recognition.azure.blob import blob_service_client, upload_tree

    client = blob_service_client(account_url)
    report = upload_tree(source, _CONTAINER, prefix="food-101/", client=client)
    echo(f"  uploaded {len(report.uploaded)}, skipped {len(report.skipped)}")
    return f"{account_url.rstrip('/')}/{_CONTAINER}/food-101"


def _train_on_azure(
    config: RunConfig,
    data_url: str,
    options: DemoOptions,
    workdir: Path,
    echo: Callable[[str], None],
) -> Path:
    from food_recognition.compute import TrainingJob, get_target

    job = TrainingJob(
        config,
        data=data_url,
        target="azureml",
        compute=options.compute,
        experiment_name="food-recognition-demo",
    )
    return _run_job(get_target("azureml"), job, workdir, echo)


def _evaluate(
    package_dir: Path, data: Path, config: RunConfig, echo: Callable[[str], None]
) -> EvaluationReport:
    from food_recognition.datasets import load_dataset
    from food_recognition.evaluation import evaluate
    from food_recognition.package import load_package

    package = load_package(package_dir)
    dataset = load_dataset(data, seed=config.data.seed)
    report = evaluate(
        package, dataset.test, tta=config.tta, plots_dir=package_dir / "plots", save=True
    )
    for line in report.summary().splitlines():
        echo(f"  {line}")
    return report


def _pick_photo(data: Path, config: RunConfig) -> Path:
    from food_recognition.datasets import load_dataset

    test = load_dataset(data, seed=config.data.seed, scan=False).test
    return Path(test.paths[0])


def _serve_and_classify(package_dir: Path, image: Path, echo: Callable[[str], None]) -> Any:
    from food_recognition.serving.client import ScoringClient
    from food_recognition.serving.server import LocalServer

    with LocalServer(package_dir) as server:
        echo(f"  serving at {server.scoring_uri} (liveness: {server.health_uri})")
        prediction = ScoringClient(server.scoring_uri).predict(image.read_bytes(), top_k=3)
    echo(
        f"  POST {image.name} -> "
        + ", ".join(f"{label.label} {label.probability:.2f}" for label in prediction.labels)
    )
    echo("  server stopped")
    return prediction


def main(argv: list[str] | None = None) -> int:
    """``python -m food_recognition.demo``: the same as ``food-recognition demo``."""
    from food_recognition.cli import main as cli_main

    return cli_main(["demo", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
