"""Blob upload and download against Azurite: concurrent, byte-identical, resumable after a kill."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from food_recognition.azure.blob import (
    BlobCredentialsError,
    BlobTransferError,
    blob_service_client,
    download_prefix,
    upload_tree,
)
from tests.datasets import odd_images
from tests.fixtures.images import make_food101

pytest.importorskip("azure.storage.blob")


@pytest.fixture
def blob_env(azurite: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)
    return azurite


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small Food-101 tree plus files a re-encode would change (CMYK, EXIF)."""
    root = make_food101(tmp_path / "food-101", train_per_class=8, test_per_class=2)
    odd_images.write(root / "images" / "apple_pie" / "cmyk.jpg", odd_images.cmyk_jpeg())
    odd_images.write(root / "images" / "bibimbap" / "exif.jpg", odd_images.exif_rotated_jpeg())
    (root / ".DS_Store").write_bytes(b"junk")  # hidden: not uploaded
    return root


def files_of(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


def container_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def blob_names(connection_string: str, container: str) -> list[str]:
    client = blob_service_client()
    return [b.name for b in client.get_container_client(container).list_blobs()]


def test_missing_credentials_name_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    with pytest.raises(
        BlobCredentialsError, match=r"account URL .* AZURE_STORAGE_CONNECTION_STRING"
    ):
        blob_service_client()


def test_upload_is_concurrent_and_comes_back_byte_identical(
    blob_env: str, tree: Path, tmp_path: Path
) -> None:
    # The first two uploads wait for each other: a sequential upload would never
    # get past the barrier (BrokenBarrierError after 20 s), a concurrent one does.
    # Each request takes its place in line under the lock, so exactly the first
    # two wait, whatever the interleaving of the upload threads.
    barrier = threading.Barrier(2, timeout=20)
    lock = threading.Lock()
    puts: list[str] = []
    met = threading.Event()

    def on_request(request: Any) -> None:
        if request.http_request.method == "PUT" and "restype=container" not in str(
            request.http_request.url
        ):
            with lock:
                puts.append(request.http_request.url)
                place = len(puts)
            if place <= 2:
                barrier.wait()
                met.set()

    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(blob_env, raw_request_hook=on_request)
    container = container_name()
    expected = files_of(tree)
    report = upload_tree(tree, container, prefix="food-101", client=client, max_concurrency=4)
    assert met.is_set(), "two uploads were never in flight at once"
    assert report.container == container and report.prefix == "food-101/"
    assert sorted(report.uploaded) == sorted(f"food-101/{name}" for name in expected)
    assert report.skipped == ()
    assert report.bytes_uploaded == sum(len(data) for data in expected.values())
    blobs = list(client.get_container_client(container).list_blobs())
    assert len(blobs) == len(expected)
    assert all(b.content_settings.content_md5 for b in blobs)
    jpeg = next(b for b in blobs if b.name.endswith("cmyk.jpg"))
    assert jpeg.content_settings.content_type == "image/jpeg"

    back = tmp_path / "back"
    fetched = download_prefix(container, "food-101/", back, client=client)
    assert sorted(fetched.downloaded) == sorted(report.uploaded)
    assert files_of(back) == expected  # the original bytes, CMYK and EXIF untouched
    again = download_prefix(container, "food-101", back, client=client)
    assert again.downloaded == () and len(again.skipped) == len(expected)


UPLOADER = """
import sys, threading
from food_recognition.azure.blob import upload_tree

def freeze_after_five(done, total):
    if done == 5:
        print("frozen", flush=True)
        threading.Event().wait()  # the test kills this process here

upload_tree(sys.argv[1], sys.argv[2], prefix="food-101", max_concurrency=2,
            progress=freeze_after_five)
"""


def test_an_upload_killed_midway_finishes_on_rerun_without_duplicates(
    blob_env: str, tree: Path, tmp_path: Path
) -> None:
    container = container_name()
    expected = files_of(tree)
    child = subprocess.Popen(
        [sys.executable, "-c", UPLOADER, str(tree), container],
        env={**os.environ, "AZURE_STORAGE_CONNECTION_STRING": blob_env},
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
    )
    try:
        # Await the uploader's "frozen" line: five blobs are up and it is waiting.
        assert child.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=120), "the uploader did not reach 5 blobs in 120 s"
        assert child.stdout.readline() == b"frozen\n", "the uploader exited before it was killed"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    before = blob_names(blob_env, container)
    assert 5 <= len(before) < len(expected)

    report = upload_tree(tree, container, prefix="food-101/", max_concurrency=4)
    # Requests the killed process had already sent may still land after the kill,
    # so the rerun skips at least what was listed, and uploads the rest.
    assert set(before) <= set(report.skipped)
    assert report.uploaded and not set(report.uploaded) & set(report.skipped)
    assert sorted(report.uploaded + report.skipped) == sorted(f"food-101/{n}" for n in expected)
    after = blob_names(blob_env, container)
    assert len(after) == len(set(after)) == len(expected)
    download_prefix(container, "food-101", tmp_path / "back")
    assert files_of(tmp_path / "back") == expected

    # A changed file is uploaded again, and only it.
    changed = tree / "images" / "apple_pie" / "cmyk.jpg"
    changed.write_bytes(odd_images.jpeg_bytes(odd_images.two_colour_image(10, 10)))
    rerun = upload_tree(tree, container, prefix="food-101")
    assert rerun.uploaded == ("food-101/images/apple_pie/cmyk.jpg",)
    assert len(rerun.skipped) == len(expected) - 1


def test_download_of_a_missing_container_is_a_clear_error(blob_env: str, tmp_path: Path) -> None:
    with pytest.raises(BlobTransferError, match="container 'does-not-exist' does not exist"):
        download_prefix("does-not-exist", "", tmp_path)


# -- credentials that cannot work (issue 14, item 10) ----------------------------------

SECRET = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWJlLXByaW50ZWQ="  # base64, and in no message


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("just-some-text", "every part must be NAME=VALUE"),
        (f"AccountKey={SECRET}", "names no AccountName"),
        ("AccountName=food;EndpointSuffix=core.windows.net", "no AccountKey"),
        ("AccountName=food;AccountKey=not*base64*" + SECRET, "the AccountKey is not base64"),
        (f"BlobEndpoint=https://x.blob.core.windows.net/;AccountKey={SECRET}", "needs its Account"),
    ],
)
def test_a_malformed_connection_string_names_the_variable_and_the_form(
    monkeypatch: pytest.MonkeyPatch, value: str, reason: str
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", value)
    with pytest.raises(BlobCredentialsError) as info:
        blob_service_client()
    message = str(info.value)
    assert message.startswith("AZURE_STORAGE_CONNECTION_STRING is not a valid connection string")
    assert reason in message and "AccountName=<account>;AccountKey=<key>" in message
    assert SECRET not in message and "\n" not in message


def wrong_key(connection_string: str) -> str:
    parts = dict(part.split("=", 1) for part in connection_string.strip(";").split(";"))
    parts["AccountKey"] = SECRET
    return ";".join(f"{k}={v}" for k, v in parts.items())


def test_refused_credentials_say_what_to_check(
    azurite: str, tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", wrong_key(azurite))
    with pytest.raises(BlobCredentialsError) as info:
        upload_tree(tree, container_name())
    message = str(info.value)
    assert (
        "refused the credentials" in message and "check the AccountName and AccountKey" in message
    )
    assert "run the same" not in message and SECRET not in message
    with pytest.raises(BlobCredentialsError, match="check the AccountName and AccountKey"):
        download_prefix(container_name(), "", tmp_path / "back")


def test_a_failed_upload_says_a_rerun_finishes_it(blob_env: str, tree: Path) -> None:
    from azure.storage.blob import BlobServiceClient

    def refuse_one(request: Any) -> None:
        if request.http_request.method == "PUT" and "cmyk.jpg" in request.http_request.url:
            request.http_request.headers["x-ms-blob-type"] = "NoSuchType"  # a 400 from the service

    client = BlobServiceClient.from_connection_string(blob_env, raw_request_hook=refuse_one)
    with pytest.raises(
        BlobTransferError, match=r"cmyk\.jpg: upload failed: .*run the same upload again"
    ):
        upload_tree(tree, container_name(), client=client, max_concurrency=2)


def test_a_sign_in_that_fails_names_the_identity_and_its_role(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real azure-identity credential, with nothing to sign in with: its token
    # request fails before any request leaves the machine.
    from azure.identity import EnvironmentCredential

    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient(
        "https://devstoreaccount1.blob.core.windows.net",
        credential=EnvironmentCredential(),
        retry_total=0,  # the SDK retries a failed sign-in with back-off: a minute
    )
    with pytest.raises(BlobCredentialsError) as info:
        upload_tree(tree, container_name(), client=client)
    message = str(info.value)
    assert "refused the credentials" in message and "az login" in message
    assert "'Storage Blob Data Contributor' role" in message and "run the same" not in message
