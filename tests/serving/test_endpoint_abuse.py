"""The endpoint under abuse, against the real ``azmlinfsrv``: slow clients, bad bodies, storage.

Every wait here is a deadline on a condition (a socket becoming readable, a
response arriving), never a fixed sleep.
"""

from __future__ import annotations

import re
import select
import socket
import time

import pytest
import requests

from food_recognition.serving.client import predict_image
from food_recognition.serving.server import LocalServer
from tests.fixtures.inference_server import READ_TIMEOUT_S

pytestmark = pytest.mark.slow

#: How long any one awaited condition may take before the test fails.
DEADLINE_S = READ_TIMEOUT_S + 50


def test_serve_starts_without_an_error_level_traceback(inference_server: LocalServer) -> None:
    # First in the module: the server's log still holds its start.
    log = inference_server.log
    assert "ready for serving traffic" in log
    assert "Using worker: gthread" in log
    errors = [line for line in log.splitlines() if re.search(r" [EC] \[\d+\] ", line)]
    assert errors == []
    assert "Traceback" not in log
    assert "NotADirectoryError" not in log


def test_a_client_that_sends_half_a_body_holds_one_thread_not_the_server(
    inference_server: LocalServer, jpeg_bytes: bytes
) -> None:
    stalled = [_send_half_a_body(inference_server, jpeg_bytes) for _ in range(3)]
    try:
        # While three clients stall mid-body, health probes and requests are answered...
        assert requests.get(inference_server.health_uri, timeout=15).status_code == 200
        assert predict_image(inference_server.scoring_uri, jpeg_bytes).labels
        assert requests.get(inference_server.health_uri, timeout=15).status_code == 200
        # ...before any stalled client has heard anything (its deadline is READ_TIMEOUT_S).
        assert [_readable(sock, 0) for sock in stalled] == [False] * 3
        # Then each stalled client gets a 408 naming the deadline, not a 500.
        for sock in stalled:
            status, body = _read_response(sock)
            assert status == 408, body
            assert b"did not arrive within" in body
    finally:
        for sock in stalled:
            sock.close()
    assert inference_server.alive()
    assert predict_image(inference_server.scoring_uri, jpeg_bytes).labels


def test_a_trickling_client_is_cut_off_at_the_deadline(
    inference_server: LocalServer, jpeg_bytes: bytes
) -> None:
    # A byte at a time, each well within any per-read timeout: only a deadline ends it.
    sock = _connect(inference_server)
    try:
        sock.sendall(_headers(len(jpeg_bytes)))
        sent, deadline = 0, time.monotonic() + DEADLINE_S
        while not _readable(sock, 0.2):
            assert time.monotonic() < deadline, "the trickle was never cut off"
            sock.sendall(jpeg_bytes[sent : sent + 1])
            sent += 1
        assert sent < len(jpeg_bytes)
        status, body = _read_response(sock)
        assert status == 408, body
    finally:
        sock.close()


def test_a_malformed_chunked_body_is_a_400(inference_server: LocalServer) -> None:
    for chunks in (b"zz\r\nabc\r\n", b"3\r\nabcdef\r\n", b"5\r\nab"):
        sock = _connect(inference_server)
        try:
            sock.sendall(
                b"POST /score HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
            )
            if chunks.endswith(b"ab"):
                sock.shutdown(socket.SHUT_WR)  # cut off mid-chunk
            status, body = _read_response(sock)
            assert status == 400, (chunks, body)
            assert b"malformed" in body or b"could not be read" in body, body
        finally:
            sock.close()
    assert requests.get(inference_server.health_uri, timeout=15).status_code == 200


@pytest.mark.parametrize(
    ("name", "request_args", "words"),
    [
        (
            "JSON 1,000 levels deep",
            {"data": b'{"image": ' + b"[" * 1000 + b"]" * 1000 + b"}"},
            "nested",
        ),
        (
            "top_k of 5,000 digits",
            {"data": b'{"image": "AA==", "top_k": ' + b"9" * 5000 + b"}"},
            "digits",
        ),
        (
            "tta_threshold of 4,301 digits",
            {"data": b'{"image": "AA==", "tta_threshold": ' + b"1" * 4301 + b"}"},
            "digits",
        ),
        (
            "?top_k=\u00b2",
            {
                "data": b"x",
                "params": {"top_k": "\u00b2"},
                "headers": {"Content-Type": "image/jpeg"},
            },
            "top_k=",
        ),
        (
            "a blob name of 1,100 characters",
            {"data": b'{"blob": {"container": "images", "name": "' + b"a" * 1100 + b'"}}'},
            "limit of 1024",
        ),
    ],
)
def test_the_reported_bad_requests_are_a_400_from_the_server(
    inference_server: LocalServer, name: str, request_args: dict[str, object], words: str
) -> None:
    arguments = {"headers": {"Content-Type": "application/json"}, **request_args}
    response = requests.post(
        inference_server.scoring_uri,
        timeout=30,
        **arguments,  # type: ignore[arg-type]
    )
    assert response.status_code == 400, (name, response.text)
    assert words in response.json()["message"], (name, response.text)


def test_unreachable_blob_storage_is_a_502_and_the_worker_keeps_serving(
    inference_server: LocalServer, jpeg_bytes: bytes
) -> None:
    response = requests.post(
        inference_server.scoring_uri,
        json={"blob": {"container": "images", "name": "dish/1.jpg"}},
        timeout=DEADLINE_S,
    )
    assert response.status_code == 502, response.text
    assert "could not be reached" in response.json()["message"]
    assert predict_image(inference_server.scoring_uri, jpeg_bytes).labels


@pytest.mark.parametrize("size", [3_000_000, 20_000_000])
def test_an_early_413_reaches_the_client_not_a_connection_reset(
    inference_server: LocalServer, size: int
) -> None:
    # Against a body limit of about 330 KB: refused on Content-Length alone while the
    # client is still sending. A client that sends its whole body before it reads
    # (as http.client and curl do) saw a broken pipe or a reset instead of the 413.
    body = bytes(size)
    for _ in range(3):
        sock = _connect(inference_server)
        try:
            sock.sendall(_headers(size))
            for start in range(0, size, 256 * 1024):
                sock.sendall(body[start : start + 256 * 1024])
            status, answer = _read_response(sock)
        finally:
            sock.close()
        assert status == 413, answer
        assert b"over the limit" in answer


# -- raw HTTP helpers ----------------------------------------------------------------


def _connect(server: LocalServer) -> socket.socket:
    assert server.port is not None
    return socket.create_connection((server.host, server.port), timeout=DEADLINE_S)


def _headers(length: int) -> bytes:
    return (
        f"POST /score HTTP/1.1\r\nHost: test\r\nContent-Type: image/jpeg\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def _send_half_a_body(server: LocalServer, body: bytes) -> socket.socket:
    sock = _connect(server)
    sock.sendall(_headers(len(body)) + body[: len(body) // 2])
    return sock


def _readable(sock: socket.socket, wait_s: float) -> bool:
    return bool(select.select([sock], [], [], wait_s)[0])


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of the one response on ``sock``, awaited with a deadline."""
    data = b""
    deadline = time.monotonic() + DEADLINE_S
    while b"\r\n\r\n" not in data or len(data) < _expected_length(data):
        assert time.monotonic() < deadline, f"no whole response within {DEADLINE_S} s: {data!r}"
        if not _readable(sock, 1.0):
            continue
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1."), data[:200]
    return int(head.split()[1]), body


def _expected_length(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return len(head) + 4 + (int(match.group(1)) if match else 0)
