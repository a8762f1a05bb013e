"""Blob requests against Azurite: only allowed containers are read, with size limits."""

from __future__ import annotations

import json

import pytest

from food_recognition.serving.blobs import make_blob_reader
from food_recognition.serving.scoring import (
    ENV_BLOB_CONNECTION_STRING,
    BlobRef,
    Limits,
    RequestError,
    Scorer,
)

LIMITS = Limits(
    max_bytes=50_000,
    max_pixels=1_000_000,
    blob_containers=("images",),
    blob_account_url="http://127.0.0.1:10000/devstoreaccount1",
)


@pytest.fixture(scope="module")
def blob_env(azurite: str, jpeg_bytes: bytes) -> dict[str, str]:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(azurite)
    for container in ("images", "private"):
        if not service.get_container_client(container).exists():
            service.create_container(container)
        service.get_blob_client(container, "dish/1.jpg").upload_blob(jpeg_bytes, overwrite=True)
    service.get_blob_client("images", "huge.jpg").upload_blob(bytes(60_000), overwrite=True)
    return {ENV_BLOB_CONNECTION_STRING: azurite}


def test_reader_reads_allowed_blobs_and_refuses_the_rest(
    blob_env: dict[str, str], jpeg_bytes: bytes
) -> None:
    reader = make_blob_reader(LIMITS, blob_env)
    assert reader is not None
    assert reader(BlobRef("images", "dish/1.jpg"), LIMITS.max_bytes) == jpeg_bytes
    cases = [
        (BlobRef("images", "missing.jpg"), 404),
        (BlobRef("images", "huge.jpg"), 413),
        (BlobRef("private", "dish/1.jpg"), 403),
    ]
    for blob, status in cases:
        with pytest.raises(RequestError) as error:
            reader(blob, LIMITS.max_bytes)
        assert error.value.status == status, blob


def test_scorer_labels_an_allowed_blob_and_never_reads_another_container(
    blob_env: dict[str, str], tiny_package: object
) -> None:
    from food_recognition.package import load_package

    scorer = Scorer(load_package(tiny_package), limits=LIMITS)  # type: ignore[arg-type]
    scorer.blob_reader = make_blob_reader(LIMITS, blob_env)
    allowed = json.dumps({"blob": {"container": "images", "name": "dish/1.jpg"}, "top_k": 1})
    assert len(scorer.handle(allowed.encode(), "application/json", {})["predictions"]) == 1
    other = json.dumps({"blob": {"container": "private", "name": "dish/1.jpg"}})
    with pytest.raises(RequestError) as error:
        scorer.handle(other.encode(), "application/json", {})
    assert error.value.status == 403


def _connection_string(port: int) -> str:
    from food_recognition.azure.emulator import Azurite

    # Azurite's public development account at a port of our choosing; nothing runs there.
    return Azurite("127.0.0.1", port, process=None).connection_string  # type: ignore[arg-type]


def test_storage_that_refuses_connections_is_a_502() -> None:
    from food_recognition.serving.server import free_port

    reader = make_blob_reader(LIMITS, {ENV_BLOB_CONNECTION_STRING: _connection_string(free_port())})
    assert reader is not None
    with pytest.raises(RequestError) as error:
        reader(BlobRef("images", "dish/1.jpg"), LIMITS.max_bytes)
    assert error.value.status == 502
    assert "could not be reached" in error.value.message


def test_storage_that_never_answers_is_a_504_after_the_blob_timeout() -> None:
    import socket

    import attrs

    # A listening socket nobody accepts from: the kernel completes the handshake and
    # takes the request, and no answer ever comes.
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(16)
        limits = attrs.evolve(LIMITS, blob_timeout_s=1.0)
        env = {ENV_BLOB_CONNECTION_STRING: _connection_string(hole.getsockname()[1])}
        reader = make_blob_reader(limits, env)
        assert reader is not None
        with pytest.raises(RequestError) as error:
            reader(BlobRef("images", "dish/1.jpg"), LIMITS.max_bytes)
    assert error.value.status == 504
    assert "did not answer within 1 s" in error.value.message
