"""The workspace client from arguments, environment variables or a config.json; cheap imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from food_recognition.azure.workspace import WorkspaceError, get_ml_client
from tests.fixtures.azureml_rest import (
    RESOURCE_GROUP,
    SUBSCRIPTION,
    WORKSPACE,
    AzureMLRestServer,
    StaticTokenCredential,
)


def test_client_from_arguments(azureml_rest: AzureMLRestServer) -> None:
    client = get_ml_client(
        subscription_id=SUBSCRIPTION,
        resource_group=RESOURCE_GROUP,
        workspace_name=WORKSPACE,
        credential=StaticTokenCredential(),
        **azureml_rest.cloud_kwargs(),
    )
    assert client.workspace_name == WORKSPACE
    assert client.resource_group_name == RESOURCE_GROUP


def test_client_from_environment_variables(
    azureml_rest: AzureMLRestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)
    monkeypatch.setenv("AZURE_RESOURCE_GROUP", RESOURCE_GROUP)
    monkeypatch.setenv("AZUREML_WORKSPACE_NAME", "ws-from-env")
    client = get_ml_client(credential=StaticTokenCredential(), **azureml_rest.cloud_kwargs())
    assert client.workspace_name == "ws-from-env"


def test_client_from_config_json(
    azureml_rest: AzureMLRestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "subscription_id": SUBSCRIPTION,
                "resource_group": RESOURCE_GROUP,
                "workspace_name": "ws-from-file",
            }
        )
    )
    client = get_ml_client(
        config_path=config, credential=StaticTokenCredential(), **azureml_rest.cloud_kwargs()
    )
    assert client.workspace_name == "ws-from-file"


def test_no_workspace_says_how_to_name_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(WorkspaceError, match="AZUREML_WORKSPACE_NAME") as error:
        get_ml_client(
            subscription_id=SUBSCRIPTION,
            config_path=tmp_path / "missing.json",
            credential=StaticTokenCredential(),
        )
    assert "config.json" in str(error.value)


def test_no_workspace_on_the_command_line_names_the_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from food_recognition.cli import main

    for name in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no config.json here or above
    code = main(["azure", "status", "job-1", "--target", "azureml", "--subscription", SUBSCRIPTION])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    # What the user typed is an option, so the fix names the options.
    for option in ("--subscription", "--resource-group", "--workspace", "--workspace-config"):
        assert option in err


def test_plugins_and_compute_do_not_import_the_azure_sdk() -> None:
    # `food-recognition --help` and `plugins` load every built-in plugin; the core
    # compute package must not reach for azure at all.
    code = (
        "import sys\n"
        "from food_recognition.plugins import PluginManager\n"
        "import food_recognition.compute, food_recognition.azure.jobs\n"
        "manager = PluginManager(load_entry_points=False)\n"
        "assert manager.compute_targets.names() == ['azureml', 'local']\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('azure'))\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
