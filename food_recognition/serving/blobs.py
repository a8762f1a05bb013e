"""Reading a request's blob with the deployment's identity, from allowed containers only.

The account is fixed by the deployment
(:data:`~food_recognition.serving.scoring.ENV_BLOB_ACCOUNT_URL`) and the containers by its
allow-list; a request supplies only a container from that
list and a blob name, so it can neither read another container nor make the
server fetch an arbitrary URL. Credentials come from ``DefaultAzureCredential``
(the deployment's managed identity), or from a connection string in
:data:`~food_recognition.serving.scoring.ENV_BLOB_CONNECTION_STRING` for Azurite.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from food_recognition.serving.scoring import (
    ENV_BLOB_CONNECTION_STRING,
    BlobReader,
    BlobRef,
    Limits,
    RequestError,
)

__all__ = ["make_blob_reader"]


def make_blob_reader(limits: Limits, environ: Mapping[str, str] | None = None) -> BlobReader | None:
    """A reader for the allowed containers, or ``None`` when the deployment allows no blobs.

    :param limits: the account URL and the container allow-list.
    :param environ: where a connection string may be set; ``os.environ`` by default.
    :returns: ``reader(blob, max_bytes) -> bytes`` raising :class:`RequestError`
        (404 missing, 413 too large, 403 refused, 502 storage failure).
    """
    env = os.environ if environ is None else environ
    connection_string = env.get(ENV_BLOB_CONNECTION_STRING)
    if not limits.blob_containers or not (connection_string or limits.blob_account_url):
        return None
    service: Any = None

    def client() -> Any:
        nonlocal service
        if service is None:
            from azure.storage.blob import BlobServiceClient

            if connection_string:
                service = BlobServiceClient.from_connection_string(connection_string)
            else:
                # The deployment's managed identity, through the library's one client factory.
                from food_recognition.azure.blob import blob_service_client

                service = blob_service_client(str(limits.blob_account_url))
        return service

    def read(blob: BlobRef, max_bytes: int) -> bytes:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
        )

        if blob.container not in limits.blob_containers:  # parse_request checked; belt and braces
            raise RequestError(f"container {blob.container!r} is not allowed", 403)
        blob_client = client().get_blob_client(blob.container, blob.name)
        try:
            size = blob_client.get_blob_properties().size
            if size > max_bytes:
                raise RequestError(
                    f"blob {blob.container}/{blob.name} is {size} bytes, over the limit of "
                    f"{max_bytes}",
                    413,
                )
            data: bytes = blob_client.download_blob(offset=0, length=max_bytes + 1).readall()
        except ResourceNotFoundError:
            raise RequestError(f"blob {blob.container}/{blob.name} does not exist", 404) from None
        except ClientAuthenticationError:
            raise RequestError("the deployment's identity may not read this blob", 403) from None
        except HttpResponseError as error:
            if error.status_code == 403:
                raise RequestError(
                    "the deployment's identity may not read this blob", 403
                ) from None
            raise RequestError(
                f"blob storage answered {error.status_code} reading {blob.container}/{blob.name}",
                502,
            ) from None
        if len(data) > max_bytes:
            raise RequestError(
                f"blob {blob.container}/{blob.name} is over the limit of {max_bytes} bytes", 413
            )
        return data

    return read
