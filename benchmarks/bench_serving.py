"""Serving benchmark: the local inference server against the model called in-process.

Builds a model package (ResNet50, ``weights=None``, 224 px, 101 classes; with
``--quick`` a small MobileNetV3 at 96 px), serves it with ``azmlinfsrv`` running
the real scoring script on loopback, and measures, in one run:

- latency of one ~512x384 JPEG end to end (HTTP POST -> decode -> resize/crop
  -> model -> JSON), p50 and p99;
- the baseline: the same model called in-process, through the scoring script's
  own compiled resize/crop and model call, on the same decoded image (and the
  model alone);
- requests per second with 8 concurrent clients for 30 s, and how many failed.

Server and baseline are measured in alternating rounds, so a neighbour's load
on the shared machine hits both. Goal: p50 overhead of the server at most 15%
over the in-process baseline, and no error under load.

Run::

    .venv/bin/python benchmarks/bench_serving.py            # a few minutes
    .venv/bin/python benchmarks/bench_serving.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
import requests


def make_jpeg() -> bytes:
    """A 512x384 JPEG (quality 90) cut from a real photo scikit-learn ships."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photo = load_sample_images().images[0]
    image = Image.fromarray(photo).resize((512, 384), Image.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def make_package(root: Path, backbone: str, size: int, classes: int) -> Path:
    """A model package with random weights (no download)."""
    from food_recognition.config import RunConfig, with_overrides
    from food_recognition.models import build
    from food_recognition.package import save_package

    config = with_overrides(
        RunConfig(),
        {"model.backbone": backbone, "model.input_size": str(size), "model.weights": "none"},
    )
    model = build(config.model, classes)
    names = [f"class_{i:03d}" for i in range(classes)]
    return save_package(root / "package", model, names, None, config)


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile in milliseconds of values in seconds."""
    return float(np.percentile(np.asarray(values) * 1000, q))


def time_calls(fn: Callable[[], object], count: int) -> list[float]:
    """Seconds each of ``count`` calls of ``fn`` took."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def load_test(uri: str, jpeg: bytes, clients: int, seconds: float) -> tuple[int, int, list[str]]:
    """``clients`` threads posting ``jpeg`` for ``seconds``: (answered, failed, error samples)."""
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    counts = {"ok": 0, "failed": 0}
    errors: list[str] = []

    def client() -> None:
        session = requests.Session()
        while time.monotonic() < deadline:
            try:
                response = session.post(
                    uri, data=jpeg, headers={"Content-Type": "image/jpeg"}, timeout=120
                )
                ok = response.status_code == 200 and bool(response.json()["predictions"])
                detail = f"{response.status_code} {response.text[:100]}"
            except Exception as error:  # a benchmark counts every failure
                ok, detail = False, repr(error)
            with lock:
                counts["ok" if ok else "failed"] += 1
                if not ok and len(errors) < 5:
                    errors.append(detail)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts["ok"], counts["failed"], errors


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small model, short runs")
    parser.add_argument("--rounds", type=int, help="alternating measurement rounds")
    parser.add_argument("--per-round", type=int, help="requests per round and side")
    parser.add_argument("--load-seconds", type=float, help="seconds of the concurrent load")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="inference server workers")
    args = parser.parse_args(argv)

    from food_recognition.datasets.images import load_image_bytes
    from food_recognition.package import load_package
    from food_recognition.serving.scoring import Scorer
    from food_recognition.serving.server import LocalServer

    backbone, size, classes = (
        ("mobilenet_v3_small", 96, 10) if args.quick else ("resnet50", 224, 101)
    )
    rounds = args.rounds or (2 if args.quick else 6)
    per_round = args.per_round or (5 if args.quick else 10)
    load_seconds = args.load_seconds or (5.0 if args.quick else 30.0)

    jpeg = make_jpeg()
    with tempfile.TemporaryDirectory() as tmp:
        package_dir = make_package(Path(tmp), backbone, size, classes)
        # The scoring script's own compiled transform and model call, minus HTTP and decoding.
        scorer = Scorer(load_package(package_dir))
        predict = scorer.predict_fn
        assert predict is not None
        decoded = load_image_bytes(jpeg)

        def in_process() -> object:
            return predict(scorer.prepare(decoded))

        prepared = scorer.prepare(decoded)

        def model_only() -> object:
            return predict(prepared)

        time_calls(in_process, 3)  # trace and warm up
        with LocalServer(package_dir, workers=args.workers, timeout_s=120) as server:
            session = requests.Session()
            inside: list[float] = []

            def end_to_end() -> object:
                response = session.post(
                    server.scoring_uri, data=jpeg, headers={"Content-Type": "image/jpeg"}
                )
                response.raise_for_status()
                answer = response.json()
                inside.append(answer["timing_ms"]["total"] / 1000)
                return answer

            time_calls(end_to_end, 3)
            inside.clear()
            served: list[float] = []
            direct: list[float] = []
            bare: list[float] = []
            for _ in range(rounds):
                served += time_calls(end_to_end, per_round)
                direct += time_calls(in_process, per_round)
                bare += time_calls(model_only, per_round)
            ok, failed, errors = load_test(server.scoring_uri, jpeg, args.clients, load_seconds)
            alive = server.alive()

    base_p50 = percentile(direct, 50)
    rows = [
        ("model only, in-process", bare),
        ("resize/crop + model, in-process (baseline)", direct),
        ("  of which inside run() (decode + model)", inside),
        ("azmlinfsrv end to end (HTTP, decode, JSON)", served),
    ]
    print(
        f"\nserving benchmark: {backbone} weights=None, {size} px, {classes} classes, "
        f"JPEG {len(jpeg)} bytes 512x384, {len(served)} requests per row, "
        f"{args.workers} server worker(s)"
    )
    print(f"{'path':<46} {'p50 ms':>9} {'p99 ms':>9} {'p50 / baseline':>15}")
    for name, values in rows:
        p50 = percentile(values, 50)
        print(f"{name:<46} {p50:>9.1f} {percentile(values, 99):>9.1f} {p50 / base_p50:>15.3f}")
    overhead = percentile(served, 50) / base_p50 - 1
    rps = ok / load_seconds
    print(
        f"\np50 overhead of the server: {overhead * 100:+.1f}% (goal <= +15%): "
        f"{'met' if overhead <= 0.15 else 'NOT met'}"
    )
    print(
        f"{args.clients} concurrent clients for {load_seconds:.0f} s: {rps:.2f} requests/s, "
        f"{ok} answered, {failed} failed; server alive after: {alive}; "
        f"in-process single-stream rate {1000 / base_p50:.2f}/s"
    )
    for error in errors:
        print(f"  error: {error}")
    return 0 if failed == 0 and alive else 1


if __name__ == "__main__":
    sys.exit(main())
