"""``food-recognition azure deploy --dry-run`` writes YAML the SDK loaders accept."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.ai.ml import load_online_deployment, load_online_endpoint

from food_recognition.cli import main


def test_dry_run_writes_loadable_kubernetes_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "deploy"
    code = main(
        [
            "azure",
            "deploy",
            "azureml:food-recognition:2",
            "--endpoint",
            "food-aks",
            "--deployment",
            "green",
            "--compute",
            "aks-inference",
            "--max-instances",
            "3",
            "--blob-account-url",
            "https://foodimages.blob.core.windows.net",
            "--blob-containers",
            "uploads,photos",
            "--dry-run",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "endpoint.yaml"), str(out / "deployment-green.yaml")]
    endpoint = load_online_endpoint(out / "endpoint.yaml")
    deployment = load_online_deployment(out / "deployment-green.yaml")
    assert endpoint.name == "food-aks"
    assert deployment.name == "green"
    assert deployment.scale_settings.max_instances == 3
    assert deployment.environment_variables["FOOD_RECOGNITION_BLOB_CONTAINERS"] == "uploads,photos"
    # It fits defaultinstancetype (2 CPU / 2Gi): nothing asked beyond the instance type.
    assert deployment.instance_type == "defaultinstancetype"
    assert deployment.resources.requests is None and deployment.resources.limits is None


def test_dry_run_refuses_resources_over_the_instance_type_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "deploy"
    args = ["azure", "deploy", "azureml:food:1", "--endpoint", "food-aks", "--compute", "aks"]
    assert main([*args, "--memory-limit", "4Gi", "--dry-run", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "does not fit instance type 'defaultinstancetype'" in err
    assert not out.exists()


def test_deploy_help_names_the_job_package_path(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["azure", "deploy", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "azureml://jobs/JOB/outputs/model/paths/package" in help_text
    assert "outputs/package " not in help_text
    assert "--no-check" in help_text


def test_dry_run_managed_with_a_wheel_requirement(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    wheel = "https://example.invalid/food_recognition-0.1.0-py3-none-any.whl"
    args = ["azure", "deploy", "azureml:food:1", "--endpoint", "food-managed"]
    assert main([*args, "--package-requirement", wheel, "--dry-run", str(out)]) == 0
    deployment = load_online_deployment(out / "deployment-blue.yaml")
    assert deployment.type.lower() == "managed"
    assert wheel in (out / "deployment-blue.yaml").read_text()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["azureml:food:1", "--endpoint", "x"], "3 to 32"),
        (["no/such/folder", "--endpoint", "food"], "neither a package folder"),
        (
            [
                "azureml:food:1",
                "--endpoint",
                "food",
                "--compute",
                "aks",
                "--auth-mode",
                "aad_token",
            ],
            "managed endpoints",
        ),
    ],
)
def test_bad_deploy_arguments_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    assert main(["azure", "deploy", *args, "--dry-run", str(tmp_path)]) == 2
    assert words in capsys.readouterr().err


def test_traffic_pairs_must_be_name_equals_percent(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["azure", "traffic", "food", "blue:90"]) == 2
    assert "NAME=PERCENT" in capsys.readouterr().err


def test_invoke_needs_an_endpoint_or_a_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "a.jpg"
    image.write_bytes(b"\xff\xd8\xff")
    assert main(["azure", "invoke", str(image)]) == 2
    assert "--url" in capsys.readouterr().err
