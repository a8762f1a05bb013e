"""Micro-batching: concurrent calls share forward passes, each gets its own rows back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pytest

from food_recognition.serving.batching import BatchSettings, MicroBatcher, batch_gain

DEADLINE_S = 30.0


def _await(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE_S} s: {what}")
        time.sleep(0.005)


class GatedModel:
    """A 'model' whose first forward pass waits at a gate, so calls can pile up behind it."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls: list[int] = []

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.calls.append(len(images))
        self.entered.set()
        self.gate.wait(DEADLINE_S)
        # One row per image: the image's id (its first pixel) and its view count marker.
        return np.stack([images[:, 0, 0, 0], images[:, 0, 0, 1]], axis=1)


def _image(identity: float, count: int = 1) -> np.ndarray:
    images = np.zeros((count, 2, 2, 3), np.float32)
    images[:, 0, 0, 0] = identity
    images[:, 0, 0, 1] = np.arange(count)
    return images


def test_calls_queued_behind_a_forward_pass_share_the_next_one() -> None:
    model = GatedModel()
    batcher = MicroBatcher(model, BatchSettings(max_batch=16, max_wait_s=0.0, runners=1))
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(batcher, _image(100))
        assert model.entered.wait(DEADLINE_S)
        rest: list[Future[np.ndarray]] = [
            pool.submit(batcher, _image(i, count=1 + i % 2)) for i in range(5)
        ]
        _await(lambda: len(batcher._queue) == 5, "five calls queued behind the first pass")
        model.gate.set()
        assert first.result(DEADLINE_S).tolist() == [[100, 0]]
        for i, future in enumerate(rest):
            # Every caller gets exactly its own rows, in order, whatever the batch held.
            rows = future.result(DEADLINE_S)
            assert rows.tolist() == [[i, view] for view in range(1 + i % 2)]
    assert model.calls == [1, 7]  # 5 calls of 1 or 2 images: one pass of 7
    assert list(batcher.batch_sizes) == [1, 7]
    batcher.close()


def test_runners_score_batches_side_by_side() -> None:
    model = GatedModel()
    both_in = threading.Barrier(2, timeout=DEADLINE_S)

    def two_at_once(images: np.ndarray) -> np.ndarray:
        both_in.wait()  # passes only when two forward passes run at the same time
        return model(images)

    model.gate.set()
    # One image per pass, so the two calls cannot share one and must run side by side.
    batcher = MicroBatcher(two_at_once, BatchSettings(max_batch=1, max_wait_s=0.0, runners=2))
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(batcher, _image(1))
        second = pool.submit(batcher, _image(2))
        assert first.result(DEADLINE_S).tolist() == [[1, 0]]
        assert second.result(DEADLINE_S).tolist() == [[2, 0]]
    assert model.calls == [1, 1]
    batcher.close()


def test_a_batch_never_exceeds_max_batch_and_an_oversized_call_runs_alone() -> None:
    model = GatedModel()
    batcher = MicroBatcher(model, BatchSettings(max_batch=4, max_wait_s=0.0, runners=1))
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(batcher, _image(0))
        assert model.entered.wait(DEADLINE_S)
        queued = [pool.submit(batcher, _image(i)) for i in range(1, 6)]
        _await(lambda: len(batcher._queue) == 5, "five calls queued")
        big = pool.submit(batcher, _image(9, count=10))
        _await(lambda: len(batcher._queue) == 6, "the large call queued")
        model.gate.set()
        for future in [first, *queued, big]:
            future.result(DEADLINE_S)
    assert max(size for size in model.calls if size != 10) <= 4
    assert 10 in model.calls
    assert sum(model.calls) == 16
    batcher.close()


def test_a_batch_waits_for_an_arriving_request_but_not_past_the_bound() -> None:
    calls: list[int] = []

    def model(images: np.ndarray) -> np.ndarray:
        calls.append(len(images))
        return images[:, 0, 0, :1]

    # A long bound, so the only way both calls share a pass is that the batch waited.
    batcher = MicroBatcher(model, BatchSettings(max_batch=8, max_wait_s=10.0, runners=1))
    arrived = threading.Event()
    go = threading.Event()

    def late_request() -> np.ndarray:
        with batcher.arriving():
            arrived.set()
            go.wait(DEADLINE_S)
            return batcher(_image(2))

    with ThreadPoolExecutor(2) as pool:
        late = pool.submit(late_request)
        assert arrived.wait(DEADLINE_S)
        early = pool.submit(batcher, _image(1))
        _await(lambda: len(batcher._queue) == 1, "the early call queued and waiting")
        go.set()
        assert early.result(DEADLINE_S).tolist() == [[1.0]]
        assert late.result(DEADLINE_S).tolist() == [[2.0]]
    assert calls == [2]
    batcher.close()


def test_an_announced_request_that_never_comes_delays_nobody_past_the_bound() -> None:
    batcher = MicroBatcher(lambda images: images[:, 0, 0, :1], BatchSettings(8, 0.05))
    left = threading.Event()
    release = threading.Event()

    def request_that_fails_before_scoring() -> None:
        with batcher.arriving():
            left.set()
            release.wait(DEADLINE_S)  # still "arriving" while the other call is scored

    with ThreadPoolExecutor(2) as pool:
        stuck = pool.submit(request_that_fails_before_scoring)
        assert left.wait(DEADLINE_S)
        # Completes (after at most the 50 ms bound) although an arrival is still announced.
        assert pool.submit(batcher, _image(3)).result(DEADLINE_S).tolist() == [[3.0]]
        release.set()
        stuck.result(DEADLINE_S)
    assert batcher._arriving == 0
    batcher.close()


def test_a_failing_forward_pass_fails_every_call_in_it() -> None:
    def broken(images: np.ndarray) -> np.ndarray:
        raise ValueError("model exploded")

    batcher = MicroBatcher(broken, BatchSettings(4, 0.0))
    with pytest.raises(ValueError, match="model exploded"):
        batcher(_image(1))
    batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher(_image(1))


def test_settings_come_from_the_environment_and_refuse_nonsense() -> None:
    assert BatchSettings.from_env({}) == BatchSettings()
    settings = BatchSettings.from_env(
        {
            "FOOD_RECOGNITION_BATCH_SIZE": "1",
            "FOOD_RECOGNITION_BATCH_WAIT_MS": "2",
            "FOOD_RECOGNITION_BATCH_RUNNERS": "3",
        }
    )
    assert settings == BatchSettings(max_batch=1, max_wait_s=0.002, runners=3)
    assert not settings.enabled
    for env in (
        {"FOOD_RECOGNITION_BATCH_SIZE": "0"},
        {"FOOD_RECOGNITION_BATCH_SIZE": "²"},
        {"FOOD_RECOGNITION_BATCH_SIZE": "4.5"},
        {"FOOD_RECOGNITION_BATCH_WAIT_MS": "soon"},
        {"FOOD_RECOGNITION_BATCH_WAIT_MS": "nan"},
        {"FOOD_RECOGNITION_BATCH_WAIT_MS": "60000"},
        {"FOOD_RECOGNITION_BATCH_RUNNERS": "0"},
    ):
        with pytest.raises(ValueError, match="FOOD_RECOGNITION_BATCH"):
            BatchSettings.from_env(env)


def test_the_scorer_scores_concurrent_requests_through_the_batcher(
    tiny_package: object, jpeg_bytes: bytes, png_bytes: bytes
) -> None:
    from food_recognition.package import load_package
    from food_recognition.serving.scoring import Scorer

    package = load_package(tiny_package)  # type: ignore[arg-type]
    alone = Scorer(package)
    batched = Scorer(package, batching=BatchSettings(max_batch=8, max_wait_s=0.01))
    assert batched.batcher is not None
    images = [jpeg_bytes, png_bytes] * 4
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda data: batched.handle(data, None, {"top_k": "3"}), images))
    for data, answer in zip(images, answers, strict=True):
        expected = alone.handle(data, None, {"top_k": "3"})
        assert [p["class"] for p in answer["predictions"]] == [
            p["class"] for p in expected["predictions"]
        ]
        got = [p["probability"] for p in answer["predictions"]]
        want = [p["probability"] for p in expected["predictions"]]
        assert got == pytest.approx(want, abs=1e-5)
    assert sum(batched.batcher.batch_sizes) == len(images)
    assert batched.batcher._arriving == 0
    batched.batcher.close()


class CostModel:
    """A model whose passes cost ``fixed + per_image * N`` on its own clock."""

    def __init__(self, fixed: float, per_image: float) -> None:
        self.fixed, self.per_image, self.now = fixed, per_image, 0.0

    def clock(self) -> float:
        return self.now

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.now += self.fixed + self.per_image * len(images)
        return np.zeros((len(images), 3), np.float32)


def test_batching_is_on_by_default_only_where_a_batch_is_cheaper_per_image() -> None:
    from food_recognition.serving.score import _default_batching

    sample = np.zeros((1, 4, 4, 3), np.float32)
    # Mostly per-pass overhead (a GPU, a small model): a pass of 8 costs far less per image.
    overhead = CostModel(fixed=0.08, per_image=0.01)
    assert batch_gain(overhead, sample, 8, clock=overhead.clock) == pytest.approx(4.5)
    # All per-image work (a busy CPU): batching only adds waiting.
    linear = CostModel(fixed=0.0, per_image=0.1)
    assert batch_gain(linear, sample, 8, clock=linear.clock) == pytest.approx(1.0)

    def decide(model: CostModel, env: dict[str, str]) -> tuple[BatchSettings, float | None]:
        import food_recognition.serving.score as score

        original = score.batch_gain
        score.batch_gain = lambda fn, x, n: original(fn, x, n, clock=model.clock)  # type: ignore[assignment]
        try:
            return _default_batching(model, 4, env)
        finally:
            score.batch_gain = original

    settings, gain = decide(CostModel(0.08, 0.01), {})
    assert settings.enabled and gain == pytest.approx(4.5)
    settings, gain = decide(CostModel(0.0, 0.1), {})
    assert not settings.enabled and gain == pytest.approx(1.0)
    # Asked for explicitly: kept as asked, nothing measured.
    settings, gain = decide(CostModel(0.0, 0.1), {"FOOD_RECOGNITION_BATCH_SIZE": "4"})
    assert settings.max_batch == 4 and gain is None
