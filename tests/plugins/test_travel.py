"""Plugins travel: the example plugin, installed for real, goes from `azure submit
--dry-run` into the job snapshot and into the environment's build context (its
wheel, pinned by SHA-256, which pip checks here as the image build would),
trains on the local target (which, as Azure ML, sees the plugin only through
the snapshot), and its layer is served."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from food_recognition.azure.environment import conda_spec
from food_recognition.azure.environment.images import DEFAULT_IMAGE, INFERENCE_IMAGE
from tests.azure.test_environment_context import pip_dry_run
from tests.fixtures.images import make_food101, write_jpeg
from tests.fixtures.loopback import wait_until_live
from tests.plugins.test_entry_points import ROOT, installed_plugin  # noqa: F401

TINY = [
    "--model.backbone", "tiny_cnn",
    "--model.input_size", "32",
    "--data.batch_size", "4",
    "--data.deterministic", "true",
    "--training.epochs", "1",
    "--training.steps_per_epoch", "2",
]  # fmt: skip


def _env(site: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _cli(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "food_recognition", *args],
        capture_output=True, text=True, env=_env(site), cwd=cwd, check=False,
    )  # fmt: skip


def test_submit_dry_run_snapshot_carries_the_plugin(
    installed_plugin: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    dry = tmp_path / "job"
    blob = "https://acct.blob.core.windows.net/food/food-101"
    argv = ["azure", "submit", "--target", "azureml", "--dry-run", str(dry), "--data", blob]
    result = _cli([*argv, *TINY], installed_plugin, ROOT)
    assert result.returncode == 0, result.stderr
    code = dry / "code"
    assert (code / "food_recognition_tiny_backbone" / "plugin.py").is_file()
    (dist_info,) = code.glob("food_recognition_tiny_backbone-0.1.0.dist-info")
    assert "tiny_backbone" in (dist_info / "entry_points.txt").read_text()
    assert list((code / "plugins").glob("food_recognition_tiny_backbone-0.1.0-*.whl"))
    assert (
        (code / "run.yaml")
        .read_text()
        .startswith("# plugins: food-recognition-tiny-backbone==0.1.0")
    )
    assert json.loads((code / "plugins.json").read_text()) == {
        "distributions": [{"name": "food-recognition-tiny-backbone", "version": "0.1.0"}]
    }

    # The job's environment installs the plugin: a build context beside job.yml.
    env = dry / "environment"
    job = yaml.safe_load((dry / "job.yml").read_text())
    assert job["environment"]["build"] == {"dockerfile_path": "Dockerfile", "path": "environment"}
    (wheel,) = (env / "plugins").glob("food_recognition_tiny_backbone-0.1.0-*.whl")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert (env / "plugins.txt").read_text() == f"plugins/{wheel.name} --hash=sha256:{digest}\n"
    assert (code / "plugins" / wheel.name).read_bytes() == wheel.read_bytes()
    dockerfile = (env / "Dockerfile").read_text()
    assert f"FROM {DEFAULT_IMAGE}\n" in dockerfile
    assert "--require-hashes --no-deps -r plugins.txt" in dockerfile
    assert yaml.safe_load((env / "conda.yaml").read_text()) == conda_spec(extra="gpu")
    # The Dockerfile's pip step, run offline by pip in the context as the build runs it.
    installed = pip_dry_run(env, "--require-hashes", "--no-deps", "-r", "plugins.txt")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "food-recognition-tiny-backbone-0.1.0" in installed.stdout

    # Same plugins, same environment: a second submit writes the same bytes, so
    # Azure ML names it the same anonymous version and reuses the image.
    again = tmp_path / "again"
    argv = ["azure", "submit", "--target", "azureml", "--dry-run", str(again), "--data", blob]
    assert _cli([*argv, *TINY], installed_plugin, ROOT).returncode == 0
    files = sorted(p.relative_to(env) for p in env.rglob("*") if p.is_file())
    assert files == sorted(
        p.relative_to(again / "environment")
        for p in (again / "environment").rglob("*")
        if p.is_file()
    )
    assert all((env / f).read_bytes() == (again / "environment" / f).read_bytes() for f in files)
    second = yaml.safe_load((again / "job.yml").read_text())
    assert second["environment"]["version"] == job["environment"]["version"]

    # az ml job create / load_job take the folder as written.
    from azure.ai.ml import load_job

    loaded = load_job(dry / "job.yml")
    assert Path(loaded.environment.path).resolve() == env.resolve()


def test_a_plugin_published_on_an_index_is_installed_by_its_requirement(
    installed_plugin: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    blob = "https://acct.blob.core.windows.net/food/food-101"
    base = ["azure", "submit", "--target", "azureml", "--data", blob, *TINY]
    typo = _cli([*base, "--dry-run", str(tmp_path / "typo"), "--plugin-from-index",
                 "food-recognition-tiny-backbon"], installed_plugin, ROOT)  # fmt: skip
    assert typo.returncode == 2
    assert len(typo.stderr.strip().splitlines()) == 1, typo.stderr
    assert "food-recognition-tiny-backbon" in typo.stderr and "(it uses: " in typo.stderr
    assert not (tmp_path / "typo").exists()

    dry = tmp_path / "job"
    argv = [*base, "--dry-run", str(dry), "--plugin-from-index", "food-recognition-tiny-backbone"]
    result = _cli(argv, installed_plugin, ROOT)
    assert result.returncode == 0, result.stderr
    code, env = dry / "code", dry / "environment"
    # Not copied: the index has it, built for the image's platform.
    assert not (code / "food_recognition_tiny_backbone").exists()
    assert not list(code.glob("plugins/*.whl")) and not list(env.glob("plugins/*.whl"))
    assert json.loads((code / "plugins.json").read_text())["distributions"] == [
        {"name": "food-recognition-tiny-backbone", "version": "0.1.0", "index": True}
    ]
    assert (env / "plugins-index.txt").read_text() == "food-recognition-tiny-backbone==0.1.0\n"
    assert not (env / "plugins.txt").exists()
    assert "--no-deps -r plugins-index.txt" in (env / "Dockerfile").read_text()


def test_a_local_run_trains_with_the_plugin_from_the_snapshot_and_serve_loads_its_layer(
    installed_plugin: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    # Without the install the plugin is not importable here: the job gets it
    # only through its snapshot (the local target drops PYTHONPATH, as Azure has none).
    probe = subprocess.run(
        [sys.executable, "-c", "import food_recognition_tiny_backbone"],
        env=_env(None), cwd=tmp_path, capture_output=True, check=False,
    )  # fmt: skip
    assert probe.returncode != 0

    data = make_food101(tmp_path / "food-101", train_per_class=6, test_per_class=2)
    root = tmp_path / "runs"
    argv = ["azure", "submit", "--target", "local", "--root", str(root), "--wait"]
    argv += ["--data", str(data), "--download", str(tmp_path / "got"), *TINY]
    result = _cli(argv, installed_plugin, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    package = tmp_path / "got" / "package"
    assert json.loads((package / "plugins.json").read_text())["distributions"] == [
        {"name": "food-recognition-tiny-backbone", "version": "0.1.0"}
    ]
    assert "tiny_backbone>ChannelScale" in _model_config(package / "model.keras")

    # A deployment's code folder carries the plugin too.
    deploy_dir = tmp_path / "deploy"
    argv = ["azure", "deploy", str(package), "--endpoint", "food", "--dry-run", str(deploy_dir)]
    result = _cli(argv, installed_plugin, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (deploy_dir / "code" / "food_recognition_tiny_backbone" / "layers.py").is_file()
    assert list((deploy_dir / "code").glob("food_recognition_tiny_backbone-0.1.0.dist-info"))
    # ... and the endpoint's environment installs it, on the inference image.
    env = deploy_dir / "environment"
    deployment = yaml.safe_load((deploy_dir / "deployment-blue.yaml").read_text())
    assert deployment["environment"]["build"]["path"] == "environment"
    (wheel,) = (env / "plugins").glob("food_recognition_tiny_backbone-0.1.0-*.whl")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert (env / "plugins.txt").read_text() == f"plugins/{wheel.name} --hash=sha256:{digest}\n"
    assert f"FROM {INFERENCE_IMAGE}\n" in (env / "Dockerfile").read_text()
    assert yaml.safe_load((env / "conda.yaml").read_text()) == conda_spec(extra="cpu")
    installed = pip_dry_run(env, "--require-hashes", "--no-deps", "-r", "plugins.txt")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    from azure.ai.ml import load_online_deployment

    loaded = load_online_deployment(deploy_dir / "deployment-blue.yaml")
    assert Path(loaded.environment.path).resolve() == env.resolve()

    # Published: the endpoint's environment installs it from the index instead.
    published = tmp_path / "deploy-published"
    argv = ["azure", "deploy", str(package), "--endpoint", "food", "--dry-run", str(published)]
    argv += ["--plugin-from-index", "food-recognition-tiny-backbone"]
    result = _cli(argv, installed_plugin, tmp_path)
    assert result.returncode == 0, result.stderr
    index = (published / "environment" / "plugins-index.txt").read_text()
    assert index == "food-recognition-tiny-backbone==0.1.0\n"
    assert not (published / "code" / "food_recognition_tiny_backbone").exists()

    # Served by `food-recognition serve` with the plugin installed: its layer loads.
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "food_recognition", "serve", str(package), "--port", str(port)],
        env=_env(installed_plugin), cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        body = write_jpeg(tmp_path / "photo.jpg").read_bytes()
        answer = _score(f"http://127.0.0.1:{port}/score", body, server, deadline_s=180)
        label = answer["predictions"][0]["label"].lower().replace(" ", "_")
        assert label in {"apple_pie", "bibimbap", "caesar_salad"}
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)


def _model_config(path: Path) -> str:
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return archive.read("config.json").decode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _score(url: str, body: bytes, server: subprocess.Popen[str], deadline_s: float) -> Any:
    """Wait (until a deadline) for the server's liveness route, then score ``body``."""
    failure = wait_until_live(server, url.rsplit("/", 1)[0] + "/", deadline_s)
    if failure is not None:
        pytest.fail(f"serve: {failure}")
    request = urllib.request.Request(url, body, {"Content-Type": "image/jpeg"})
    with urllib.request.urlopen(request, timeout=deadline_s) as response:
        return json.loads(response.read())


def test_a_published_name_the_model_does_not_need_is_refused_before_anything_is_staged(
    tmp_path: Path,
) -> None:
    from food_recognition.azure.deploy import stage_code
    from food_recognition.plugins.resolve import PluginDistribution
    from food_recognition.plugins.travel import PluginBundleError

    needed = (PluginDistribution("food-recognition-tiny-backbone", "0.1.0"),)
    with pytest.raises(PluginBundleError, match="it uses: food-recognition-tiny-backbone"):
        stage_code(tmp_path / "code", plugins=needed, from_index=("food-recognition-tiny",))
    assert not (tmp_path / "code").exists()
