"""Serving benchmark: the local inference server under load, against baselines from the same run.

Builds a model package (ResNet50, ``weights=None``, 224 px, 101 classes; with
``--quick`` a small MobileNetV3 at 96 px), serves it with ``azmlinfsrv`` running
the real scoring script on loopback (threaded workers), and measures, in one run:

1. Latency of one ~512x384 JPEG end to end (HTTP POST -> decode -> resize/crop
   -> model -> JSON), p50 and p99, against the same model called in-process
   through the scoring script's own compiled resize/crop and model call, in
   alternating rounds so a neighbour's load on the shared machine hits both.
   Goal: p50 overhead of the server at most 15%.
2. Requests per second and p50/p99 latency of 16 concurrent clients for 30 s,
   with micro-batching (``FOOD_RECOGNITION_BATCH_SIZE=8``) and without it
   (``FOOD_RECOGNITION_BATCH_SIZE=1``: one image per forward pass, the baseline).
   It also prints whether the server's default (batching where a batch is at
   least 1.25x cheaper per image, measured at start) would batch on this machine.
   Goals: at least 1.5x the baseline's throughput; p99 at most twice the
   single-request p50.
3. The same load with micro-batching while one more client trickles a request
   body a byte at a time (cut off with a 408 at the body deadline, then again).
   Goals: p99 of the others within 2x of the run without it, zero errors.

Every ratio is against a baseline measured in the same run.

Run::

    python3.11 scripts/nox.py -s bench -- bench_serving.py          # about 6 minutes
    python3.11 scripts/nox.py -s bench -- bench_serving.py --quick  # smoke run
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import attrs
import numpy as np
import requests

if TYPE_CHECKING:
    from food_recognition.serving.server import LocalServer

#: The body deadline of the benchmark's servers: short, so the trickler is cut off
#: (and comes back) a few times in one load run (``--quick``: a third of it).
READ_TIMEOUT_S = 9


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
    """The ``q``-th percentile in milliseconds of values in seconds (NaN if none)."""
    if not values:
        return float("nan")
    return float(np.percentile(np.asarray(values) * 1000, q))


def time_calls(fn: Callable[[], object], count: int) -> list[float]:
    """Seconds each of ``count`` calls of ``fn`` took."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


@attrs.define
class LoadResult:
    """What one load run measured."""

    seconds: float
    latencies: list[float] = attrs.field(factory=list)
    failed: int = 0
    errors: list[str] = attrs.field(factory=list)
    trickles_cut: int = 0
    trickle_statuses: list[int] = attrs.field(factory=list)

    @property
    def rps(self) -> float:
        """Answered requests per second."""
        return len(self.latencies) / self.seconds


def load_test(
    uri: str, jpeg: bytes, clients: int, seconds: float, *, trickle: bool = False
) -> LoadResult:
    """``clients`` threads posting ``jpeg`` for ``seconds``; optionally one more trickling."""
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    result = LoadResult(seconds)

    def client() -> None:
        session = requests.Session()
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                response = session.post(
                    uri, data=jpeg, headers={"Content-Type": "image/jpeg"}, timeout=120
                )
                ok = response.status_code == 200 and bool(response.json()["predictions"])
                detail = f"{response.status_code} {response.text[:100]}"
            except Exception as error:  # a benchmark counts every failure
                ok, detail = False, repr(error)
            elapsed = time.perf_counter() - start
            with lock:
                if ok:
                    result.latencies.append(elapsed)
                else:
                    result.failed += 1
                    if len(result.errors) < 5:
                        result.errors.append(detail)

    def trickler() -> None:
        host, port = uri.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        head = (
            f"POST /score HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/jpeg\r\n"
            f"Content-Length: {len(jpeg)}\r\n\r\n"
        ).encode()
        while time.monotonic() < deadline:
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                sock.sendall(head)
                sent = 0
                while time.monotonic() < deadline and sent < len(jpeg):
                    try:
                        sock.sendall(jpeg[sent : sent + 1])
                    except OSError:
                        break
                    sent += 1
                    sock.settimeout(0.05)  # a byte every 50 ms, and look for an answer
                    try:
                        answer = sock.recv(200)
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                    status = int(answer.split()[1]) if answer.startswith(b"HTTP/") else 0
                    with lock:
                        result.trickle_statuses.append(status)
                        result.trickles_cut += status == 408
                    break

    threads = [threading.Thread(target=client) for _ in range(clients)]
    if trickle:
        threads.append(threading.Thread(target=trickler))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


def server_for(
    package_dir: Path, env: Mapping[str, str], workers: int, read_timeout_s: float
) -> LocalServer:
    """A local server for ``package_dir`` with extra ``env`` (use it with ``with``)."""
    from food_recognition.serving.server import LocalServer

    return LocalServer(
        package_dir,
        workers=workers,
        timeout_s=120,
        env={"FOOD_RECOGNITION_READ_TIMEOUT_S": f"{read_timeout_s:g}", **env},
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small model, short runs")
    parser.add_argument("--rounds", type=int, help="alternating measurement rounds")
    parser.add_argument("--per-round", type=int, help="requests per round and side")
    parser.add_argument("--load-seconds", type=float, help="seconds of each concurrent load")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="inference server workers")
    args = parser.parse_args(argv)

    from food_recognition.datasets.images import load_image_bytes
    from food_recognition.package import load_package
    from food_recognition.serving.batching import BATCH_GAIN_NEEDED, DEFAULT_MAX_BATCH, batch_gain

    backbone, size, classes = (
        ("mobilenet_v3_small", 96, 10) if args.quick else ("resnet50", 224, 101)
    )
    rounds = args.rounds or (2 if args.quick else 6)
    per_round = args.per_round or (5 if args.quick else 10)
    load_seconds = args.load_seconds or (5.0 if args.quick else 30.0)
    warm_seconds = 2.0 if args.quick else 8.0
    read_timeout = READ_TIMEOUT_S / 3 if args.quick else READ_TIMEOUT_S

    jpeg = make_jpeg()
    with tempfile.TemporaryDirectory() as tmp:
        package_dir = make_package(Path(tmp), backbone, size, classes)
        # The package's traced transform and model call the scoring script uses, minus
        # HTTP and decoding.
        package = load_package(package_dir)
        predict = package.forward
        decoded = load_image_bytes(jpeg)

        def in_process() -> object:
            return predict(package.prepare(decoded)[None])

        prepared = package.prepare(decoded)[None]

        def model_only() -> object:
            return predict(prepared)

        time_calls(in_process, 3)  # trace and warm up
        batch8 = np.repeat(prepared, 8, axis=0)
        predict(batch8)
        per_image_1 = float(np.median(time_calls(model_only, 5)))
        per_image_8 = float(np.median(time_calls(lambda: predict(batch8), 3))) / 8
        default_gain = batch_gain(predict, prepared, DEFAULT_MAX_BATCH)

        loads: dict[str, LoadResult] = {}
        batched_env = {"FOOD_RECOGNITION_BATCH_SIZE": str(DEFAULT_MAX_BATCH)}
        with server_for(package_dir, batched_env, args.workers, read_timeout) as server:
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
            load_test(server.scoring_uri, jpeg, args.clients, warm_seconds)
            loads["batched"] = load_test(server.scoring_uri, jpeg, args.clients, load_seconds)
            loads["trickle"] = load_test(
                server.scoring_uri, jpeg, args.clients, load_seconds, trickle=True
            )
            alive = server.alive()
        unbatched_env = {"FOOD_RECOGNITION_BATCH_SIZE": "1"}
        with server_for(package_dir, unbatched_env, args.workers, read_timeout) as server:
            load_test(server.scoring_uri, jpeg, args.clients, warm_seconds)
            loads["single"] = load_test(server.scoring_uri, jpeg, args.clients, load_seconds)
            alive = alive and server.alive()

    base_p50 = percentile(direct, 50)
    rows = [
        ("model only, in-process", bare),
        ("resize/crop + model, in-process (baseline)", direct),
        ("  of which inside run() (decode + model)", inside),
        ("azmlinfsrv end to end (HTTP, decode, JSON)", served),
    ]
    print(
        f"\nserving benchmark: {backbone} weights=None, {size} px, {classes} classes, "
        f"JPEG {len(jpeg)} bytes 512x384, {args.workers} server worker(s), "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"model alone: batch of 8 runs {per_image_1 / per_image_8:.2f}x batch 1 per image "
        f"({per_image_1 * 1000:.1f} vs {per_image_8 * 1000:.1f} ms per image); the server's "
        f"start-up check measured {default_gain:.2f}x for a batch of {DEFAULT_MAX_BATCH}, so its "
        f"default here: micro-batching {'on' if default_gain >= BATCH_GAIN_NEEDED else 'off'}"
    )
    print(f"\n1. one request at a time, {len(served)} requests per row")
    print(f"{'path':<46} {'p50 ms':>9} {'p99 ms':>9} {'p50 / baseline':>15}")
    for name, values in rows:
        p50 = percentile(values, 50)
        print(f"{name:<46} {p50:>9.1f} {percentile(values, 99):>9.1f} {p50 / base_p50:>15.3f}")
    overhead = percentile(served, 50) / base_p50 - 1
    print(
        f"p50 overhead of the server: {overhead * 100:+.1f}% (goal <= +15%): "
        f"{'met' if overhead <= 0.15 else 'NOT met'}"
    )

    single_p50 = percentile(served, 50)
    baseline = loads["single"]
    print(
        f"\n2./3. {args.clients} concurrent clients for {load_seconds:.0f} s each "
        f"(baseline: one image per forward pass; single-request p50 {single_p50:.1f} ms)"
    )
    print(
        f"{'load':<44} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7} "
        f"{'req/s / base':>13} {'p99 / single p50':>17}"
    )
    for name, key in (
        ("one image per forward pass (baseline)", "single"),
        (f"micro-batching, up to {DEFAULT_MAX_BATCH} per pass", "batched"),
        ("micro-batching + 1 trickling client", "trickle"),
    ):
        load = loads[key]
        p99 = percentile(load.latencies, 99)
        print(
            f"{name:<44} {load.rps:>7.2f} {percentile(load.latencies, 50):>8.1f} {p99:>8.1f} "
            f"{load.failed:>7} {load.rps / baseline.rps:>13.2f} {p99 / single_p50:>17.2f}"
        )
    batched, trickled = loads["batched"], loads["trickle"]
    speedup = batched.rps / baseline.rps
    tail = percentile(batched.latencies, 99) / single_p50
    trickle_ratio = percentile(trickled.latencies, 99) / percentile(batched.latencies, 99)
    failed = sum(load.failed for load in loads.values())
    print(
        f"\nthroughput with micro-batching: {speedup:.2f}x the baseline (goal >= 1.5x): "
        f"{'met' if speedup >= 1.5 else 'NOT met'}"
    )
    print(
        f"p99 with micro-batching: {tail:.2f}x the single-request p50 (goal <= 2x): "
        f"{'met' if tail <= 2 else 'NOT met'}; p99 / p50 under the same load "
        f"{percentile(batched.latencies, 99) / percentile(batched.latencies, 50):.2f}"
    )
    print(
        f"p99 of the others while one client trickles: {trickle_ratio:.2f}x the run without "
        f"it (goal <= 2x): {'met' if trickle_ratio <= 2 else 'NOT met'}; errors: "
        f"{trickled.failed} (goal 0); the trickler was cut off {trickled.trickles_cut} time(s), "
        f"answers {sorted(set(trickled.trickle_statuses))}"
    )
    print(f"failed requests in all loads: {failed}; servers alive after: {alive}")
    for load in loads.values():
        for error in load.errors:
            print(f"  error: {error}")
    return 0 if failed == 0 and alive else 1


if __name__ == "__main__":
    sys.exit(main())
