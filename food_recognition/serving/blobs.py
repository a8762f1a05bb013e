"""Reading a request's blob with the deployment's identity, from allowed containers only.

The account is fixed by the deployment
(:data:`~food_recognition.serving.scoring.ENV_BLOB_ACCOUNT_URL`) and the containers by its
allow-list; a request supplies only a container from that
list and a blob name, so it can neither read another container nor make the
server fetch an arbitrary URL. Credentials come from ``DefaultAzureCredential``
(the deployment's managed identity), or from a connection string in
:data:`~food_recognition.serving.scoring.ENV_BLOB_CONNECTION_STRING` for Azurite.

Every read is bounded by ``Limits.blob_timeout_s``: each call to storage gets
the time left as its connection and read timeout, and no retries (the Storage
SDK's default retries back off for up to a minute, with the worker's thread
waiting). Storage that cannot be reached is a 502, storage that does not answer
in time a 504, so the client knows to retry and the thread is free again.
"""

from __future__ import annotations

import os
import time
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
        (404 missing, 413 too large, 403 refused, 502 storage failure or
        unreachable, 504 storage did not answer within ``limits.blob_timeout_s``).
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
            ServiceRequestError,
            ServiceResponseError,
        )

        if blob.container not in limits.blob_containers:  # parse_request checked; belt and braces
            raise RequestError(f"container {blob.container!r} is not allowed", 403)
        deadline = time.monotonic() + limits.blob_timeout_s
        blob_client = client().get_blob_client(blob.container, blob.name)
        try:
            size = blob_client.get_blob_properties(**_bounded(deadline, limits)).size
            if size > max_bytes:
                raise RequestError(
                    f"blob {blob.container}/{blob.name} is {size} bytes, over the limit of "
                    f"{max_bytes}",
                    413,
                )
            data: bytes = blob_client.download_blob(
                offset=0, length=max_bytes + 1, **_bounded(deadline, limits)
            ).readall()
        except ServiceRequestError as error:
            # Raised before a request reached storage: refused, unresolvable, connect timeout.
            raise RequestError(
                f"blob storage could not be reached ({_short(error)}); try again later", 502
            ) from None
        except ServiceResponseError as error:
            # Sent, but no (whole) answer in time: a read timeout or a dropped connection.
            raise RequestError(
                f"blob storage did not answer within {limits.blob_timeout_s:g} s "
                f"({_short(error)}); try again later",
                504,
            ) from None
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


def _bounded(deadline: float, limits: Limits) -> dict[str, Any]:
    """Per-call options of azure-core's pipeline: the time left, no retries.

    ``connection_timeout``/``read_timeout`` are read by the requests transport
    (``azure/core/pipeline/transport/_requests_basic.py``) and ``retry_total`` by
    the Storage retry policy (``azure/storage/blob/_shared/policies.py``,
    ``configure_retries``) from each call's keyword arguments.
    """
    left = max(0.1, min(limits.blob_timeout_s, deadline - time.monotonic()))
    return {"connection_timeout": left, "read_timeout": left, "retry_total": 0}


def _short(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text[:160] or type(error).__name__
