"""Micro-batching: requests that arrive together are scored in one forward pass.

A threaded worker answers several requests at once, but a model called once per
image wastes most of what a CPU or GPU does best: on a CPU, ResNet50 labels a
batch of 8 images about 1.8 times faster per image than one at a time. A
:class:`MicroBatcher` stands in front of the model's predict function: request
threads hand it their prepared images and wait; a runner thread runs the model
on everything that is queued, then hands each request its rows back. A few
runners (two by default) take batches side by side: on a CPU one forward pass
leaves cores idle between its layers, and two passes at once fill them.

How long a request waits for company is bounded. The batcher waits for more
images only while other requests are on their way (they have arrived and are
being decoded, see :meth:`MicroBatcher.arriving`), and never longer than
``max_wait_s`` after the first image of a batch was queued. A lone request is
therefore never delayed, and under load the batch forms while the previous one
runs, so the wait is rarely needed at all.

>>> import numpy as np
>>> batcher = MicroBatcher(lambda images: images.sum(axis=(1, 2, 3))[:, None],
...                        BatchSettings(max_batch=4, max_wait_s=0.002))
>>> batcher(np.ones((2, 1, 1, 3), np.float32)).tolist()
[[3.0], [3.0]]
>>> batcher.close()
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future

import attrs
import numpy as np

__all__ = [
    "BATCH_GAIN_NEEDED",
    "DEFAULT_MAX_BATCH",
    "DEFAULT_MAX_WAIT_MS",
    "DEFAULT_RUNNERS",
    "ENV_BATCH_RUNNERS",
    "ENV_BATCH_SIZE",
    "ENV_BATCH_WAIT_MS",
    "BatchSettings",
    "MicroBatcher",
    "batch_gain",
]

#: Environment variable: the most images one forward pass scores (``1`` turns batching off).
ENV_BATCH_SIZE = "FOOD_RECOGNITION_BATCH_SIZE"
#: Environment variable: the longest a request waits for others to join its batch, in ms.
ENV_BATCH_WAIT_MS = "FOOD_RECOGNITION_BATCH_WAIT_MS"
#: Environment variable: how many forward passes may run at once.
ENV_BATCH_RUNNERS = "FOOD_RECOGNITION_BATCH_RUNNERS"
#: Default batch bound: past 8 images a CPU forward pass gains little per image.
DEFAULT_MAX_BATCH = 8
#: How much cheaper per image a full batch must be than single images for batching to
#: be on by default (:func:`batch_gain`); below it the wait and hand-off cost more.
BATCH_GAIN_NEEDED = 1.25
#: Default forward passes at once (measured on a 2-core CPU: two passes of 4 images
#: scored ResNet50 faster than one pass of 8 or 16, or 16 passes of one).
DEFAULT_RUNNERS = 2
#: Default wait bound: small next to one forward pass of any backbone we ship.
DEFAULT_MAX_WAIT_MS = 5.0


@attrs.define(frozen=True)
class BatchSettings:
    """How requests are batched.

    :param max_batch: the most images one forward pass scores; ``1`` calls the
        model once per request (no batching).
    :param max_wait_s: the longest the first image of a batch waits for others.
    :param runners: how many forward passes may run at once.
    """

    max_batch: int = attrs.field(default=DEFAULT_MAX_BATCH)
    max_wait_s: float = attrs.field(default=DEFAULT_MAX_WAIT_MS / 1000)
    runners: int = attrs.field(default=DEFAULT_RUNNERS)

    @runners.validator
    def _check_runners(self, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
            raise ValueError(f"runners={value!r} must be an integer from 1 to 64")

    @max_batch.validator
    def _check_batch(self, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"max_batch={value!r} must be an integer of at least 1")

    @max_wait_s.validator
    def _check_wait(self, attribute: attrs.Attribute[float], value: float) -> None:
        if not 0 <= value <= 10:  # also refuses NaN
            raise ValueError(f"max_wait_s={value!r} must be 0 to 10 seconds")

    @property
    def enabled(self) -> bool:
        """Whether requests share forward passes at all."""
        return self.max_batch > 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BatchSettings:
        """The settings :data:`ENV_BATCH_SIZE`, :data:`ENV_BATCH_WAIT_MS` and
        :data:`ENV_BATCH_RUNNERS` ask for.

        :param environ: the variables; ``os.environ`` by default.
        :returns: the settings, defaults where a variable is unset.
        :raises ValueError: a value that is not a number in range.
        """
        env = os.environ if environ is None else environ
        size = _whole(env, ENV_BATCH_SIZE, DEFAULT_MAX_BATCH)
        runners = _whole(env, ENV_BATCH_RUNNERS, DEFAULT_RUNNERS)
        wait_text = env.get(ENV_BATCH_WAIT_MS, "").strip()
        wait_ms = DEFAULT_MAX_WAIT_MS
        if wait_text:
            try:
                wait_ms = float(wait_text)
            except ValueError:
                message = f"{ENV_BATCH_WAIT_MS}={wait_text!r} must be milliseconds"
                raise ValueError(message) from None
        try:
            return cls(max_batch=size, max_wait_s=wait_ms / 1000, runners=runners)
        except ValueError as error:
            names = f"{ENV_BATCH_SIZE}/{ENV_BATCH_WAIT_MS}/{ENV_BATCH_RUNNERS}"
            raise ValueError(f"{names}: {error}") from None


def batch_gain(
    predict_fn: Callable[[np.ndarray], np.ndarray],
    sample: np.ndarray,
    batch: int,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """How many times cheaper per image a pass of ``batch`` images is than a pass of one.

    Measured on this machine with this model, so that batching is on by default
    only where it helps: about 1.8 for ResNet50 on a quiet CPU, far more on a
    GPU, and about 1 on a CPU that other processes keep busy.

    :param predict_fn: the model call.
    :param sample: one model input, float32 ``[1, S, S, 3]``.
    :param batch: the batch size to compare.
    :param clock: the clock the passes are timed with.
    :returns: seconds per image at batch 1 over seconds per image at ``batch``.
    """
    single = np.asarray(sample[:1], np.float32)
    many = np.repeat(single, batch, axis=0)

    def seconds(images: np.ndarray, repeats: int) -> float:
        predict_fn(images)  # the first call of a shape pays for its kernels
        times = []
        for _ in range(repeats):
            start = clock()
            predict_fn(images)
            times.append(clock() - start)
        return max(float(np.median(times)), 1e-9)

    return seconds(single, 5) / (seconds(many, 3) / batch)


@attrs.define(eq=False)
class _Item:
    images: np.ndarray
    queued: float
    result: Future[np.ndarray] = attrs.field(factory=Future)


class MicroBatcher:
    """A thread-safe front for ``predict_fn`` that scores concurrent calls in one pass.

    Call it like ``predict_fn``: float32 images ``[N, S, S, 3]`` in, one row of
    probabilities per image out. The forward passes run on ``settings.runners``
    background threads, started on first use (and again after a ``fork``, so a
    server that loads the model before forking its workers still batches).

    :param predict_fn: the model call, images to probabilities.
    :param settings: the batch and wait bounds.
    """

    def __init__(
        self, predict_fn: Callable[[np.ndarray], np.ndarray], settings: BatchSettings
    ) -> None:
        self.predict_fn = predict_fn
        self.settings = settings
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._queue: list[_Item] = []
        self._arriving = 0
        self._local = threading.local()
        self._threads: list[threading.Thread] = []
        self._pid = -1
        self._closed = False
        #: Images per forward pass, for the benchmark and the tests (the last 1,000).
        self.batch_sizes: collections.deque[int] = collections.deque(maxlen=1000)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Probabilities for ``images``, computed in a forward pass shared with other requests.

        :param images: float32 ``[N, S, S, 3]``.
        :returns: ``[N, classes]``.
        :raises RuntimeError: the batcher was closed.
        """
        item = _Item(np.asarray(images, np.float32), time.monotonic())
        with self._lock:
            if self._closed:
                raise RuntimeError("the micro-batcher is closed")
            self._start_threads()
            if getattr(self._local, "announced", False):
                # This request is here now: the batch stops waiting for it.
                self._local.announced = False
                self._arriving -= 1
            self._queue.append(item)
            self._ready.notify_all()
        return item.result.result()

    @contextlib.contextmanager
    def arriving(self) -> Iterator[None]:
        """Say, for the duration of a request, that it will soon call the batcher.

        While any request is between arrival and its first call, a forming batch
        waits for it (at most ``max_wait_s``); a request that fails before it gets
        there (a bad image, say) stops counting when it leaves.
        """
        with self._lock:
            self._arriving += 1
            self._local.announced = True
        try:
            yield
        finally:
            with self._lock:
                if getattr(self._local, "announced", False):
                    self._local.announced = False
                    self._arriving -= 1
                    self._ready.notify_all()

    def close(self) -> None:
        """Stop the runner threads once the queue is empty."""
        with self._lock:
            self._closed = True
            self._ready.notify_all()
        if self._pid == os.getpid():
            for thread in self._threads:
                thread.join(timeout=10)

    def _start_threads(self) -> None:
        # Called with the lock held.
        if self._pid == os.getpid() and all(thread.is_alive() for thread in self._threads):
            return
        self._pid = os.getpid()
        self._threads = [
            threading.Thread(target=self._run, name=f"micro-batcher-{i}", daemon=True)
            for i in range(self.settings.runners)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._score(batch)

    def _next_batch(self) -> list[_Item] | None:
        limit = self.settings.max_batch
        with self._lock:
            while not self._queue:
                if self._closed:
                    return None
                self._ready.wait()
            deadline = self._queue[0].queued + self.settings.max_wait_s
            # Wait for company only while someone is on the way, and never past the bound.
            while self._arriving > 0 and _count(self._queue) < limit:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._ready.wait(remaining)
            batch: list[_Item] = []
            size = 0
            while self._queue and (not batch or size + len(self._queue[0].images) <= limit):
                item = self._queue.pop(0)
                batch.append(item)
                size += len(item.images)
            return batch

    def _score(self, batch: list[_Item]) -> None:
        try:
            images = (
                batch[0].images
                if len(batch) == 1
                else np.concatenate([item.images for item in batch], axis=0)
            )
            probabilities = np.asarray(self.predict_fn(images))
        except BaseException as error:  # every waiting request learns what went wrong
            for item in batch:
                item.result.set_exception(error)
            return
        self.batch_sizes.append(len(images))
        start = 0
        for item in batch:
            stop = start + len(item.images)
            item.result.set_result(probabilities[start:stop])
            start = stop


def _count(queue: list[_Item]) -> int:
    return sum(len(item.images) for item in queue)


def _whole(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 6:
        raise ValueError(f"{name}={text!r} must be a whole number >= 1")
    return int(text)
