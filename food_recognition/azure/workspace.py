"""The Azure ML workspace client: ``MLClient`` from arguments, environment variables or config.json.

Jobs (:mod:`food_recognition.azure.jobs`) and deployment
(:mod:`food_recognition.azure.deploy`) both start from :func:`get_ml_client`.
Credentials come from ``DefaultAzureCredential`` (``az login``, a managed
identity, or the ``AZURE_CLIENT_ID``/``AZURE_TENANT_ID``/``AZURE_CLIENT_SECRET``
environment variables); nothing secret is passed or stored by this library.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from food_recognition.config import ConfigError

__all__ = ["WORKSPACE_ENV_VARS", "WorkspaceError", "get_ml_client"]

#: Environment variables read when the workspace is not given as arguments.
WORKSPACE_ENV_VARS = {
    "subscription_id": "AZURE_SUBSCRIPTION_ID",
    "resource_group": "AZURE_RESOURCE_GROUP",
    "workspace_name": "AZUREML_WORKSPACE_NAME",
}


class WorkspaceError(ConfigError):
    """The workspace could not be identified; the message says how to name it."""


def get_ml_client(
    *,
    subscription_id: str | None = None,
    resource_group: str | None = None,
    workspace_name: str | None = None,
    config_path: str | Path | None = None,
    credential: Any = None,
    **client_kwargs: Any,
) -> Any:
    """An ``azure.ai.ml.MLClient`` for one workspace.

    The workspace comes from the arguments; any left out are read from
    :data:`WORKSPACE_ENV_VARS`; if some are still missing, from a
    ``config.json`` (the file the Azure portal offers for download) at
    ``config_path`` or found by searching the current folder and its parents.

    :param subscription_id: the Azure subscription id.
    :param resource_group: the workspace's resource group.
    :param workspace_name: the workspace's name.
    :param config_path: a ``config.json`` or the folder holding one.
    :param credential: an ``azure.core`` token credential; ``None`` uses
        ``DefaultAzureCredential()``.
    :param client_kwargs: passed on to ``MLClient`` (``cloud``, ...).
    :returns: the client.
    :raises WorkspaceError: the workspace is not fully named and no config.json was found.
    """
    from azure.ai.ml import MLClient

    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    given = {
        "subscription_id": subscription_id,
        "resource_group": resource_group,
        "workspace_name": workspace_name,
    }
    for key, variable in WORKSPACE_ENV_VARS.items():
        if not given[key]:
            given[key] = os.environ.get(variable) or None
    if all(given.values()):
        return MLClient(
            credential,
            given["subscription_id"],
            given["resource_group"],
            given["workspace_name"],
            **client_kwargs,
        )
    try:
        return MLClient.from_config(
            credential, path=None if config_path is None else str(config_path), **client_kwargs
        )
    except Exception as error:  # the SDK raises its own exception types for a missing file
        missing = [WORKSPACE_ENV_VARS[k] for k, v in given.items() if not v]
        raise WorkspaceError(
            "no Azure ML workspace: pass subscription_id, resource_group and workspace_name "
            "(on the command line: --subscription, --resource-group, --workspace), "
            f"or set {', '.join(missing)}, or download the workspace's config.json from the "
            f"Azure portal and pass its path (config_path; --workspace-config) ({error})"
        ) from error
