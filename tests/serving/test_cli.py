"""``food-recognition serve`` and ``food-recognition export`` from the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from food_recognition.cli import main
from food_recognition.serving.client import predict_image
from food_recognition.serving.server import free_port


def test_serve_refuses_a_folder_without_a_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", str(tmp_path)]) == 2
    assert "no model package" in capsys.readouterr().err


def test_serve_refuses_a_bad_port(tiny_package: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", str(tiny_package), "--port", "70000"]) == 2
    assert "not a TCP port" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value"),
    [("--threads", "0"), ("--batch-size", "0"), ("--batch-wait-ms", "-1"), ("--read-timeout", "0")],
)
def test_serve_refuses_worker_settings_out_of_range(
    tiny_package: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    assert main(["serve", str(tiny_package), option, value]) == 2
    err = capsys.readouterr().err
    assert option in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_serve_answers_on_loopback_and_stops_with_its_server(
    tiny_package: Path, jpeg_bytes: bytes
) -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            *[sys.executable, "-m", "food_recognition", "serve", str(tiny_package)],
            *["--port", str(port), "--threads", "4", "--batch-size", "4", "--batch-wait-ms", "2"],
            *["--read-timeout", "5"],
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once the model is loaded
        assert f"http://127.0.0.1:{port}/score" in line, line
        prediction = predict_image(f"http://127.0.0.1:{port}/score", jpeg_bytes)
        assert prediction.top.class_name in ("apple_pie", "bibimbap", "caesar_salad")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    # The command stops its server before it exits: nothing listens on the port any more.
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/", timeout=5)


@pytest.mark.slow
def test_export_command_writes_each_format(tiny_package: Path, tmp_path: Path) -> None:
    out = tmp_path / "exported"
    assert main(["export", str(tiny_package), str(out), "--format", "saved_model"]) == 0
    assert (out / "saved_model" / "saved_model.pb").is_file()
    assert (out / "labels.json").is_file()
