"""The scoring script under Azure ML's real inference server (``azmlinfsrv``) on loopback."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import requests

from food_recognition.serving.client import ScoringClient, ScoringError, predict_image
from food_recognition.serving.server import LocalServer, ServerError
from tests.fixtures.inference_server import TINY_CLASSES

pytestmark = pytest.mark.slow


def test_health_route_answers_once_the_model_is_loaded(inference_server: LocalServer) -> None:
    response = requests.get(inference_server.health_uri, timeout=10)
    assert response.status_code == 200


def test_a_jpeg_comes_back_labelled(inference_server: LocalServer, jpeg_bytes: bytes) -> None:
    prediction = predict_image(inference_server.scoring_uri, jpeg_bytes, top_k=3)
    assert [label.class_name for label in prediction.labels] != []
    assert {label.class_name for label in prediction.labels} == set(TINY_CLASSES)
    assert sum(label.probability for label in prediction.labels) == pytest.approx(1, abs=1e-4)
    assert prediction.top.label == prediction.top.class_name.replace("_", " ").title()
    assert prediction.timing_ms["total"] > 0


def test_png_webp_and_base64_json_with_options(
    inference_server: LocalServer, png_bytes: bytes, webp_bytes: bytes
) -> None:
    client = ScoringClient(inference_server.scoring_uri)
    try:
        assert len(client.predict(png_bytes, top_k=1).labels) == 1
        flipped = client.predict(webp_bytes, tta="flip", all_probabilities=True, as_json=True)
        assert flipped.tta["views"] == 2
        assert flipped.probabilities is not None
        assert set(flipped.probabilities) == set(TINY_CLASSES)
    finally:
        client.close()


def test_bad_input_gets_a_4xx_and_the_server_keeps_answering(
    inference_server: LocalServer, jpeg_bytes: bytes, bomb_png: bytes
) -> None:
    uri = inference_server.scoring_uri
    b64 = base64.b64encode(jpeg_bytes).decode()
    battery: list[tuple[str, dict[str, object], int, str]] = [
        ("empty body", {"data": b""}, 400, "empty"),
        ("not an image", {"data": b"hello, not a picture"}, 400, "could not be read"),
        ("truncated JPEG", {"data": jpeg_bytes[: len(jpeg_bytes) // 2]}, 400, "could not be read"),
        ("too many bytes", {"data": b"\xff\xd8\xff" + bytes(250_000)}, 413, "over the limit"),
        ("too many pixels", {"data": bomb_png}, 413, "pixels"),
        ("malformed JSON", {"data": b'{"image": ', "headers": _json_type()}, 400, "not valid JSON"),
        ("JSON array", {"json": [1, 2]}, 400, "must be an object"),
        ("bad base64", {"json": {"image": "@@@@"}}, 400, "base64"),
        ("unknown field", {"json": {"image": b64, "colour": "red"}}, 400, "unknown field"),
        ("unknown query option", {"data": jpeg_bytes, "params": {"zoom": "2"}}, 400, "zoom"),
        ("bad top_k", {"data": jpeg_bytes, "params": {"top_k": "99"}}, 400, "top_k"),
        ("unknown TTA policy", {"data": jpeg_bytes, "params": {"tta": "nope"}}, 400, "nope"),
        (
            "a container not allowed",
            {"json": {"blob": {"container": "private", "name": "a.jpg"}}},
            403,
            "private",
        ),
        ("a URL instead of a blob", {"json": {"url": "http://169.254.169.254/"}}, 400, "url"),
    ]
    failures = []
    for name, request, status, words in battery:
        response = requests.post(uri, timeout=30, **request)  # type: ignore[arg-type]
        message = response.json().get("message", "")
        if response.status_code != status or words not in message:
            failures.append(f"{name}: {response.status_code} {message!r}")
    assert failures == []
    assert requests.get(uri, timeout=10).status_code == 405
    assert inference_server.alive()
    assert predict_image(uri, jpeg_bytes).labels


def test_client_raises_with_the_servers_message(inference_server: LocalServer) -> None:
    with pytest.raises(ScoringError) as error:
        predict_image(inference_server.scoring_uri, b"not an image")
    assert error.value.status == 400
    assert "could not be read" in error.value.message


def test_init_fails_loudly_without_a_model(tmp_path: Path) -> None:
    (tmp_path / "empty-model-dir").mkdir()
    server = LocalServer(tmp_path / "empty-model-dir")
    with pytest.raises(ServerError, match="no model package") as error, server:
        pass
    assert "exited" in str(error.value)
    assert not server.alive()


def _json_type() -> dict[str, str]:
    return {"Content-Type": "application/json"}


def test_azure_invoke_posts_to_a_scoring_uri(
    inference_server: LocalServer,
    tmp_path: Path,
    jpeg_bytes: bytes,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from food_recognition.cli import main

    image = tmp_path / "dish.jpg"
    image.write_bytes(jpeg_bytes)
    args = ["azure", "invoke", str(image), "--url", inference_server.scoring_uri, "--top-k", "2"]
    assert main(args) == 0
    answer = json.loads(capsys.readouterr().out)
    assert len(answer["predictions"]) == 2
    image.write_bytes(b"not an image")
    assert main(args) == 2
    assert "400" in capsys.readouterr().err


def test_the_client_example_labels_a_photo(
    inference_server: LocalServer, tmp_path: Path, jpeg_bytes: bytes
) -> None:
    import subprocess
    import sys

    example = Path(__file__).parents[2] / "examples" / "predict_image.py"
    image = tmp_path / "dish.jpg"
    image.write_bytes(jpeg_bytes)
    result = subprocess.run(
        [sys.executable, str(example), inference_server.scoring_uri, str(image)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    assert lines[0].split()[0] in ("Apple", "Bibimbap", "Caesar")
    assert "2 views" in lines[-1]
