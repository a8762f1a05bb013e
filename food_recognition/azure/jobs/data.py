"""A job's data input as Azure ML mounts it: Blob account URLs become datastore paths.

Azure ML jobs mount Azure Storage through a datastore path
(``azureml://datastores/<name>/paths/<prefix>``) or an identity-based
``wasbs://``/``abfss://`` URL; an ``https://<account>.blob.core.windows.net``
URL cannot be mounted (Azure/azure-sdk-for-python#27318,
MicrosoftDocs/azure-docs#98360). So a Blob container path the user gives is
read through a datastore for that account and container:

- :func:`datastore_name` derives its name from the account and container,
  the same every time, so a dry run and a submission agree;
- :func:`datastore_path` is the input path a job mounts (offline, no workspace);
- :func:`ensure_datastore` reuses a datastore of the workspace that already
  points at that container, or registers an *identity-based* one (no
  credentials stored: the job's identity reads the data);
- :func:`datastore_spec` is the same datastore as a YAML document for
  ``az ml datastore create --file``.

``wasbs://``, ``abfss://`` and ``azureml:`` locations are used as given.
"""

from __future__ import annotations

import re
from typing import Any

from food_recognition.compute.job import DataLocation

__all__ = [
    "DATASTORE_SCHEMA",
    "datastore_name",
    "datastore_path",
    "datastore_spec",
    "ensure_datastore",
    "job_data_path",
]

DATASTORE_SCHEMA = "https://azuremlschemas.azureedge.net/latest/azureBlob.schema.json"

_NOT_NAME = re.compile(r"[^a-z0-9_]")


def datastore_name(account: str, container: str) -> str:
    """The datastore registered for a Blob container: ``blob_<account>_<container>``.

    Datastore names take letters, digits and underscores, so the container's
    hyphens become underscores.

    >>> datastore_name("foodstore", "food-images")
    'blob_foodstore_food_images'

    :param account: the storage account.
    :param container: the container.
    :returns: the name.
    """
    return _NOT_NAME.sub("_", f"blob_{account}_{container}".lower())


def datastore_path(location: DataLocation, name: str | None = None) -> str:
    """The ``azureml://datastores/<name>/paths/<prefix>`` path of a ``blob`` location.

    >>> datastore_path(DataLocation.parse("https://foodstore.blob.core.windows.net/food/food-101"))
    'azureml://datastores/blob_foodstore_food/paths/food-101'

    :param location: a location of kind ``blob``.
    :param name: the datastore; ``None`` uses :func:`datastore_name`.
    :returns: the path a job mounts.
    :raises food_recognition.compute.JobSpecError: ``location`` is not a Blob container path.
    """
    account, container, prefix, _ = location.blob_container
    store = name or datastore_name(account, container)
    return f"azureml://datastores/{store}/paths/{prefix.strip('/')}"


def job_data_path(location: DataLocation, name: str | None = None) -> str:
    """The input path a job gets for ``location``: a datastore path for a Blob URL, else as given.

    :param location: where the data is.
    :param name: the datastore for a ``blob`` location (see :func:`ensure_datastore`).
    :returns: the path.
    """
    return datastore_path(location, name) if location.kind == "blob" else location.uri


def datastore_spec(location: DataLocation) -> dict[str, Any]:
    """The identity-based datastore for a ``blob`` location, as a YAML document.

    No ``credentials`` section: Azure ML then reads the container with the
    job's identity (the cluster's managed identity, or the submitter's).

    :param location: a location of kind ``blob``.
    :returns: the document ``az ml datastore create --file`` takes.
    """
    account, container, _, suffix = location.blob_container
    return {
        "$schema": DATASTORE_SCHEMA,
        "name": datastore_name(account, container),
        "type": "azure_blob",
        "account_name": account,
        "container_name": container,
        "endpoint": suffix,
        "protocol": "https",
        "description": "food_recognition training data (identity-based access)",
    }


def ensure_datastore(ml_client: Any, location: DataLocation) -> str:
    """The name of a workspace datastore for a ``blob`` location's container; registers one if none.

    A datastore of the workspace that points at the same account, container
    and endpoint is reused whatever its name; otherwise an identity-based
    ``AzureBlobDatastore`` named :func:`datastore_name` is created, with no
    credentials.

    :param ml_client: the workspace's ``MLClient``.
    :param location: a location of kind ``blob``.
    :returns: the datastore's name.
    """
    from azure.ai.ml.entities import AzureBlobDatastore

    account, container, _, suffix = location.blob_container
    for store in ml_client.datastores.list():
        if (
            isinstance(store, AzureBlobDatastore)
            and store.account_name == account
            and store.container_name == container
            and (store.endpoint or suffix) == suffix
        ):
            return str(store.name)
    spec = datastore_spec(location)
    created = ml_client.datastores.create_or_update(
        AzureBlobDatastore(
            name=spec["name"],
            account_name=account,
            container_name=container,
            endpoint=suffix,
            protocol="https",
            description=spec["description"],
        )
    )
    return str(created.name)
