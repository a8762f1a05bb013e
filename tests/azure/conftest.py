"""The workspace's blob datastore, for the SDK calls that read or write its storage account."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from azure.storage.blob import (
    BlobServiceClient,
    ContainerClient,
    ContainerSasPermissions,
    generate_container_sas,
)

from tests.fixtures.azureml_rest import AzureMLRestServer, RecordedRequest, Reply
from tests.fixtures.blob_tls_proxy import ACCOUNT, BlobTLSProxy

DATASTORE = "workspaceblobstore"


def _serve_datastore(server: AzureMLRestServer, container: str, sas_token: str) -> None:
    """The workspace's default blob datastore is Azurite's account, with a real SAS for it."""
    body = {
        "name": DATASTORE,
        "type": "Microsoft.MachineLearningServices/workspaces/datastores",
        "properties": {
            "datastoreType": "AzureBlob",
            "accountName": ACCOUNT,
            "containerName": container,
            "endpoint": "core.windows.net",
            "protocol": "https",
            "isDefault": True,
            "credentials": {"credentialsType": "AccountKey"},
        },
    }

    def datastore(server: AzureMLRestServer, request: RecordedRequest, match: Any) -> Reply:
        return Reply(200, {"id": request.path, **body})

    def datastores(server: AzureMLRestServer, request: RecordedRequest, match: Any) -> Reply:
        return Reply(200, {"value": [{"id": f"{request.path}/{DATASTORE}", **body}]})

    def secrets(server: AzureMLRestServer, request: RecordedRequest, match: Any) -> Reply:
        return Reply(200, {"secretsType": "Sas", "sasToken": sas_token})

    server.add_route("GET", rf"datastores/{DATASTORE}", datastore)
    server.add_route("GET", r"datastores", datastores)
    server.add_route("POST", rf"datastores/{DATASTORE}/listSecrets", secrets)


@pytest.fixture
def workspace_storage(
    azureml_rest: AzureMLRestServer, blob_tls_proxy: BlobTLSProxy, monkeypatch: pytest.MonkeyPatch
) -> ContainerClient:
    """A fresh Azurite container as the workspace's default blob datastore; its client.

    The SDK reaches it as ``https://devstoreaccount1.blob.core.windows.net``
    through ``blob_tls_proxy``, with a container SAS from ``listSecrets``.
    """
    container = f"azureml-blobstore-{uuid.uuid4().hex[:12]}"
    service = BlobServiceClient.from_connection_string(blob_tls_proxy.connection_string)
    client = service.create_container(container)
    sas = generate_container_sas(
        ACCOUNT,
        container,
        account_key=blob_tls_proxy.account_key,
        permission=ContainerSasPermissions(read=True, list=True, write=True, create=True),
        expiry=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
    )
    _serve_datastore(azureml_rest, container, sas)
    blob_tls_proxy.route(monkeypatch)
    return client
