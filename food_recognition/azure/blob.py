"""Azure Blob Storage: a data-set tree up to a container and back, byte for byte.

:func:`upload_tree` sends each file's original bytes (images are never decoded
and re-encoded: that is lossy and slow) to ``<container>/<prefix><relative
path>``, many at a time, with the file's MD5 set as the blob's ``Content-MD5``.
Before uploading it lists what the container already holds under the prefix
and skips every blob whose MD5 matches, so running it again after an
interruption finishes the job: nothing is uploaded twice, and a blob is either
complete or absent (a single put, or blocks made visible only by the final
commit). :func:`download_prefix` is the way back, skipping files already
present with the same MD5 and refusing blob names that would land outside the
target folder.

Credentials are never read from a file: :func:`blob_service_client` uses
``DefaultAzureCredential`` (``az login``, a managed identity, or the
``AZURE_CLIENT_ID``/``AZURE_TENANT_ID``/``AZURE_CLIENT_SECRET`` variables) with
an account URL, or a connection string from an environment variable (what
Azurite, the local emulator, uses).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import os
import posixpath
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from food_recognition.errors import CloudError

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient, ContainerClient

__all__ = [
    "CONNECTION_STRING_ENV",
    "BlobCredentialsError",
    "BlobTransferError",
    "DownloadReport",
    "UploadReport",
    "blob_service_client",
    "download_prefix",
    "upload_tree",
]

#: The environment variable a connection string is read from by default.
CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"

Progress = Callable[[int, int], None]
"""``progress(done, total)``, called from the calling thread after each file."""

T = TypeVar("T")


#: The two forms :func:`blob_service_client` accepts in :data:`CONNECTION_STRING_ENV`.
CONNECTION_STRING_FORMS = (
    "'DefaultEndpointsProtocol=https;AccountName=<account>;AccountKey=<key>;"
    "EndpointSuffix=core.windows.net' (Azure portal: the storage account's Access keys) or "
    "'BlobEndpoint=https://<account>.blob.core.windows.net;SharedAccessSignature=<sas>'"
)


class BlobCredentialsError(CloudError, ValueError):
    """No usable credentials: none given, a malformed connection string, or credentials
    Blob Storage refused. The message says what to check; it never shows a key."""


class BlobTransferError(CloudError, RuntimeError):
    """An upload or download that failed; the message names the blob or container."""


@attrs.define(frozen=True)
class UploadReport:
    """What :func:`upload_tree` did.

    :param container: the container.
    :param prefix: the prefix blob names start with (``""`` or ending in ``/``).
    :param uploaded: blob names uploaded by this run.
    :param skipped: blob names already present with the same MD5.
    :param bytes_uploaded: bytes sent by this run.
    """

    container: str
    prefix: str
    uploaded: tuple[str, ...]
    skipped: tuple[str, ...]
    bytes_uploaded: int


@attrs.define(frozen=True)
class DownloadReport:
    """What :func:`download_prefix` did.

    :param container: the container.
    :param prefix: the prefix of the blobs fetched.
    :param dest: the local folder.
    :param downloaded: blob names fetched by this run.
    :param skipped: blob names whose local file already had the same MD5.
    :param bytes_downloaded: bytes fetched by this run.
    """

    container: str
    prefix: str
    dest: Path
    downloaded: tuple[str, ...]
    skipped: tuple[str, ...]
    bytes_downloaded: int


#: The token scope of Azure Storage (a credential's sign-in for Blob requests).
_STORAGE_SCOPE = "https://storage.azure.com/.default"


def blob_service_client(
    account_url: str | None = None,
    *,
    connection_string_env: str = CONNECTION_STRING_ENV,
    credential: Any = None,
) -> BlobServiceClient:
    """A Blob service client, from an account URL or a connection string in the environment.

    :param account_url: ``https://<account>.blob.core.windows.net``; authenticated
        with ``credential`` or ``DefaultAzureCredential``.
    :param connection_string_env: the environment variable holding a connection
        string, used when no ``account_url`` is given.
    :param credential: any azure-identity credential (default: ``DefaultAzureCredential()``).
    :returns: an ``azure.storage.blob.BlobServiceClient``.
    :raises BlobCredentialsError: no account URL and the variable is unset, or
        the variable does not hold a connection string (the message names the
        variable and the expected form, never its value); or, with an account URL
        and no ``credential``, ``DefaultAzureCredential`` cannot sign in.
    """
    from azure.storage.blob import BlobServiceClient

    if account_url:
        if credential is not None:
            return BlobServiceClient(account_url, credential=credential)
        from azure.core.exceptions import ClientAuthenticationError
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
        service = BlobServiceClient(account_url, credential=credential)
        # Sign in once now: the SDK retries a failed sign-in with back-off for a
        # minute and a half per request before the error reaches the user.
        try:
            credential.get_token(_STORAGE_SCOPE)
        except ClientAuthenticationError as error:
            raise _failure(error, service, account_url) from error
        return service
    connection_string = os.environ.get(connection_string_env)
    if not connection_string:
        raise BlobCredentialsError(
            f"no Blob Storage account: pass an account URL (https://<account>.blob.core."
            f"windows.net, signed in with `az login` or a managed identity) or set "
            f"{connection_string_env} to a connection string"
        )
    problem = _connection_string_problem(connection_string)
    if problem is None:
        try:
            return BlobServiceClient.from_connection_string(connection_string)
        except ValueError as error:  # the SDK's own parse; its message shows no value
            problem = str(error).rstrip(".").lower()
    # Never the value itself: it holds the account key.
    raise BlobCredentialsError(
        f"{connection_string_env} is not a valid connection string ({problem}); expected "
        f"{CONNECTION_STRING_FORMS}"
    )


def upload_tree(
    local_dir: str | os.PathLike[str],
    container: str,
    *,
    prefix: str = "",
    client: BlobServiceClient | None = None,
    max_concurrency: int = 8,
    progress: Progress | None = None,
) -> UploadReport:
    """Upload every file under ``local_dir`` to ``container`` as its original bytes.

    Hidden files and folders (names starting with ``.``) are left out. The
    container is created if it does not exist.

    :param local_dir: the folder to upload (e.g. an extracted Food-101).
    :param container: the container name.
    :param prefix: a "folder" in the container, e.g. ``"food-101/"``.
    :param client: a Blob service client; default :func:`blob_service_client` ``()``.
    :param max_concurrency: files in flight at once.
    :param progress: called as ``progress(done, total)`` after each file.
    :returns: an :class:`UploadReport`.
    :raises BlobTransferError: a blob failed to upload (the others finished;
        running again uploads what is missing).
    :raises BlobCredentialsError: Blob Storage refused the credentials (the
        message says what to check).
    :raises NotADirectoryError: ``local_dir`` is not a folder.
    """
    from azure.core.exceptions import AzureError, ResourceExistsError

    root = Path(local_dir)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder to upload")
    prefix = _normal_prefix(prefix)
    service = client if client is not None else blob_service_client()
    container_client = service.get_container_client(container)
    try:
        container_client.create_container()
    except ResourceExistsError:
        pass
    except AzureError as error:
        raise _failure(error, service, f"container {container!r}") from error
    try:
        existing = _existing_md5(container_client, prefix)
    except AzureError as error:
        raise _failure(error, service, f"container {container!r}") from error
    files = list(_walk(root))
    uploaded: list[str] = []
    skipped: list[str] = []
    sent = 0

    def upload(relative: str) -> tuple[str, bool, int]:
        from azure.storage.blob import ContentSettings

        path = root / relative
        name = prefix + relative
        md5 = _md5_of(path)
        if existing.get(name) == md5:
            return name, False, 0
        size = path.stat().st_size
        settings = ContentSettings(
            content_type=mimetypes.guess_type(relative)[0] or "application/octet-stream",
            content_md5=bytearray(md5),
        )
        try:
            with path.open("rb") as handle:
                container_client.upload_blob(
                    name,
                    handle,
                    length=size,
                    overwrite=True,
                    content_settings=settings,
                    max_concurrency=1,
                )
        except AzureError as error:
            raise _failure(
                error,
                service,
                f"{container}/{name}: upload failed",
                retry="run the same upload again to send what is missing",
            ) from error
        return name, True, size

    for name, was_sent, size in _bounded(upload, files, max_concurrency, progress):
        (uploaded if was_sent else skipped).append(name)
        sent += size
    return UploadReport(container, prefix, tuple(uploaded), tuple(skipped), sent)


def download_prefix(
    container: str,
    prefix: str,
    dest_dir: str | os.PathLike[str],
    *,
    client: BlobServiceClient | None = None,
    max_concurrency: int = 8,
    progress: Progress | None = None,
) -> DownloadReport:
    """Download every blob under ``prefix`` into ``dest_dir``, keeping the relative paths.

    A file already present with the blob's MD5 is skipped, so an interrupted
    download is finished by running it again; files are written to a temporary
    name and renamed, so a half-written file never looks complete.

    :param container: the container name.
    :param prefix: only blobs whose names start with it; it is cut from the local path.
    :param dest_dir: the local folder (created if needed).
    :param client: a Blob service client; default :func:`blob_service_client` ``()``.
    :param max_concurrency: blobs in flight at once.
    :param progress: called as ``progress(done, total)`` after each blob.
    :returns: a :class:`DownloadReport`.
    :raises BlobTransferError: the container does not exist, a blob name would
        land outside ``dest_dir``, or a download failed or did not match its MD5.
    :raises BlobCredentialsError: Blob Storage refused the credentials.
    """
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    dest = Path(dest_dir)
    prefix = _normal_prefix(prefix)
    service = client if client is not None else blob_service_client()
    container_client = service.get_container_client(container)
    try:
        blobs = [
            (blob.name, blob.size, _md5_bytes(blob.content_settings.content_md5))
            for blob in container_client.list_blobs(name_starts_with=prefix or None)
        ]
    except ResourceNotFoundError as error:
        raise BlobTransferError(f"container {container!r} does not exist") from error
    except AzureError as error:
        raise _failure(error, service, f"container {container!r}") from error
    for name, _, _ in blobs:
        relative = name[len(prefix) :]
        normal = posixpath.normpath(relative)
        if relative.startswith("/") or normal == ".." or normal.startswith("../"):
            raise BlobTransferError(
                f"{container}/{name}: the blob name would be written outside {dest}; "
                "refusing to download"
            )
    by_name = {name: (size, md5) for name, size, md5 in blobs}

    def fetch(name: str) -> tuple[str, bool, int]:
        size, md5 = by_name[name]
        target = dest / name[len(prefix) :]
        same_size = target.is_file() and target.stat().st_size == size
        if same_size and md5 is not None and _md5_of(target) == md5:
            return name, False, 0
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with partial.open("wb") as handle:
                for chunk in container_client.download_blob(name).chunks():
                    digest.update(chunk)
                    handle.write(chunk)
        except AzureError as error:
            partial.unlink(missing_ok=True)
            raise _failure(
                error,
                service,
                f"{container}/{name}: download failed",
                retry="run the same download again to fetch what is missing",
            ) from error
        if md5 is not None and digest.digest() != md5:
            partial.unlink()
            raise BlobTransferError(
                f"{container}/{name}: downloaded bytes do not match the blob's Content-MD5"
            )
        partial.replace(target)
        return name, True, size

    fetched: list[str] = []
    skipped: list[str] = []
    received = 0
    names = [name for name, _, _ in blobs]
    for name, was_fetched, size in _bounded(fetch, names, max_concurrency, progress):
        (fetched if was_fetched else skipped).append(name)
        received += size
    return DownloadReport(container, prefix, dest, tuple(fetched), tuple(skipped), received)


# -- helpers --------------------------------------------------------------------


def _bounded(
    work: Callable[[str], T], items: list[str], max_concurrency: int, progress: Progress | None
) -> Iterator[T]:
    """Run ``work`` over ``items`` with at most ``2 * max_concurrency`` queued at a time.

    Results are yielded in the calling thread; a slow consumer (or progress
    callback) stops new work from being queued, so memory stays flat for
    100,000 files. The first failure is raised after the work in flight ends.
    """
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency={max_concurrency} must be at least 1")
    pending: set[Future[T]] = set()
    remaining = iter(items)
    done_count = 0
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=max_concurrency) as pool:
        exhausted = False
        while pending or not exhausted:
            while not exhausted and failure is None and len(pending) < 2 * max_concurrency:
                item = next(remaining, None)
                if item is None:
                    exhausted = True
                    break
                pending.add(pool.submit(work, item))
            if failure is not None:
                exhausted = True
            if not pending:
                break
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                error = future.exception()
                if error is not None:
                    failure = failure or error
                    continue
                done_count += 1
                yield future.result()
                if progress is not None:
                    progress(done_count, len(items))
    if failure is not None:
        raise failure


def _walk(root: Path) -> Iterator[str]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        base = Path(folder).relative_to(root)
        for name in sorted(files):
            path = Path(folder) / name
            if not name.startswith(".") and path.is_file():
                yield (base / name).as_posix()


def _existing_md5(container_client: ContainerClient, prefix: str) -> dict[str, bytes | None]:
    return {
        blob.name: _md5_bytes(blob.content_settings.content_md5)
        for blob in container_client.list_blobs(name_starts_with=prefix or None)
    }


def _md5_bytes(value: object) -> bytes | None:
    if isinstance(value, (bytes, bytearray)) and value:
        return bytes(value)
    if isinstance(value, str) and value:
        return base64.b64decode(value)
    return None


def _md5_of(path: Path) -> bytes:
    # MD5 because it is what Blob Storage records as Content-MD5, not for security.
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()


def _normal_prefix(prefix: str) -> str:
    text = prefix.strip().strip("/")
    return f"{text}/" if text else ""


def _short(error: BaseException) -> str:
    message = getattr(error, "message", None) or str(error)
    return str(message).splitlines()[0]


def _connection_string_problem(text: str) -> str | None:
    """What is wrong with a connection string, in words that never quote it; ``None``: fine."""
    parts = [part for part in text.strip().rstrip(";").split(";") if part.strip()]
    settings: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            return "every part must be NAME=VALUE, separated by ';'"
        settings[key.strip().upper()] = value.strip()
    if settings.get("USEDEVELOPMENTSTORAGE", "").lower() == "true":
        return None
    if "BLOBENDPOINT" not in settings and "ACCOUNTNAME" not in settings:
        return "it names no AccountName and no BlobEndpoint"
    account_key = settings.get("ACCOUNTKEY")
    if account_key is None and "SHAREDACCESSSIGNATURE" not in settings:
        return "it has no AccountKey and no SharedAccessSignature"
    if account_key is not None:
        if "ACCOUNTNAME" not in settings:
            return "an AccountKey needs its AccountName"
        try:
            base64.b64decode(account_key, validate=True)
        except (binascii.Error, ValueError):
            return "the AccountKey is not base64; copy it again from the Access keys page"
    return None


def _failure(
    error: BaseException, service: BlobServiceClient, what: str, *, retry: str | None = None
) -> CloudError:
    """The library error for an SDK failure: refused credentials, or a transfer to retry."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    refused = isinstance(error, ClientAuthenticationError) or (
        isinstance(error, HttpResponseError) and error.status_code in (401, 403)
    )
    if refused:
        return BlobCredentialsError(
            f"{what}: Blob Storage refused the credentials ({_short(error)}); "
            f"{_credentials_hint(service)}"
        )
    message = f"{what}: {_short(error)}"
    return BlobTransferError(f"{message} ({retry})" if retry else message)


def _credentials_hint(service: BlobServiceClient) -> str:
    # What to check depends on how the client signs its requests.
    credential = getattr(service, "credential", None)
    if credential is not None and hasattr(credential, "account_key"):
        return (
            f"check the AccountName and AccountKey of the connection string "
            f"({CONNECTION_STRING_ENV}) against the storage account's Access keys page"
        )
    if credential is not None and hasattr(credential, "get_token"):
        return (
            "check that you are signed in (az login, or the managed identity is assigned) "
            "and that this identity holds the 'Storage Blob Data Contributor' role on the "
            "storage account (roles can take minutes to apply)"
        )
    return (
        "check that the shared access signature has not expired and grants read, write, "
        "list and create permissions on the container"
    )
