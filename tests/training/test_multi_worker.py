"""Two workers on loopback train one model with MultiWorkerMirroredStrategy."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def test_two_workers_train_and_only_the_chief_writes(tmp_path: Path) -> None:
    output = tmp_path / "out"
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        # Azure ML's TensorFlow distribution writes an empty "ps" list; TF 2.13+ rejects it.
        tf_config = {
            "cluster": {"worker": workers, "ps": []},
            "task": {"type": "worker", "index": index},
        }
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_CONFIG": json.dumps(tf_config)}
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.training.child",
                    str(output),
                    str(tmp_path / f"worker{index}.json"),
                    "--per-class",
                    "8",
                    "--epochs",
                    "1",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    logs = []
    for process in processes:
        try:
            log, _ = process.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise
        logs.append(log)
    for process, log in zip(processes, logs, strict=True):
        assert process.returncode == 0, log[-4000:]
    assert "MultiWorkerMirroredStrategy: worker 0 of 2 workers, 2 replicas" in logs[0]

    chief = json.loads((tmp_path / "worker0.json").read_text())
    other = json.loads((tmp_path / "worker1.json").read_text())
    assert Path(chief["package"]) == output / "package"
    assert (output / "package" / "model.keras").is_file()
    assert not Path(other["package"]).is_relative_to(output)
    # 24 images, global batch 8 (4 per replica): both workers took the same 3 steps.
    assert chief["iterations"] == other["iterations"] == 3
    assert sorted(p.name for p in output.iterdir()) == [
        "checkpoints",
        "mlflow_run.json",
        "mlruns",
        "package",
    ]
