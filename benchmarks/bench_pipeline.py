"""Input-pipeline benchmark: images per second of the training pipelines, side by side.

Builds 1,536 Food-101-sized JPEGs (about 512x384, quality 90) from the
real photos scikit-learn ships (crops, flips and shifts of them), then times,
in one run and on the same files:

- decode only; decode + resize to 224 (the floor any pipeline pays);
- our training pipeline with the reference project's augmentation set
  (rotation 40, zoom 0.2, width/height shift 0.2, horizontal flip);
- the idiomatic Keras path: ``keras.utils.image_dataset_from_directory`` then
  Keras's RandomRotation, RandomZoom, RandomTranslation and RandomFlip layers
  mapped over the batches in ``tf.data``;
- our ``default`` policy (random-resized-crop, flip, brightness and contrast
  jitter), and the same with saturation jitter too.

Each pipeline is drained several times, round-robin, and its best pass is
reported (the machine may be shared). Goals: reference >= 5x the Keras path,
default >= 0.85x decode + resize.

Run::

    python3.11 scripts/nox.py -s bench -- bench_pipeline.py          # about three minutes
    python3.11 scripts/nox.py -s bench -- bench_pipeline.py --quick  # smoke run
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
from PIL import Image

IMAGE_SIZE = 224
BATCH_SIZE = 32


def make_images(root: Path, count: int, classes: int = 4, seed: int = 0) -> list[Path]:
    """Write ``count`` JPEGs of about 512x384 into ``root/<class>/``, from real photos."""
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images  # two 427x640 RGB photos
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        photo = photos[index % len(photos)]
        portrait = rng.random() < 0.25
        out_w, out_h = (384, 512) if portrait else (512, 384)
        # Crop a random window (scaled up first for portrait crops), flip, shift colour a little.
        scale = max(out_w / photo.shape[1], out_h / photo.shape[0]) * rng.uniform(1.0, 1.4)
        big = Image.fromarray(photo).resize(
            (int(photo.shape[1] * scale) + 1, int(photo.shape[0] * scale) + 1), Image.BILINEAR
        )
        x = int(rng.integers(0, big.width - out_w + 1))
        y = int(rng.integers(0, big.height - out_h + 1))
        image = np.asarray(big.crop((x, y, x + out_w, y + out_h)), dtype=np.float32)
        if rng.random() < 0.5:
            image = image[:, ::-1]
        image = np.clip(image * rng.uniform(0.85, 1.15, size=3), 0, 255).astype(np.uint8)
        path = root / f"class_{index % classes}" / f"{index:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def pipelines(root: Path, paths: list[Path]) -> dict[str, Callable[[], Any]]:
    """Name -> a function building a fresh ``tf.data.Dataset`` (one pass)."""
    import keras
    import tensorflow as tf

    from food_recognition.augment import resize_uint8
    from food_recognition.config import AugmentConfig
    from food_recognition.datasets.pipeline import train_dataset
    from food_recognition.datasets.splits import Split

    autotune = tf.data.AUTOTUNE
    classes = tuple(sorted({p.parent.name for p in paths}))
    split = Split([str(p) for p in paths], [classes.index(p.parent.name) for p in paths], classes)
    files = [str(p) for p in paths]

    def decode_only() -> Any:
        ds = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files))
        ds = ds.map(
            lambda p: tf.shape(tf.io.decode_jpeg(tf.io.read_file(p), channels=3)),
            num_parallel_calls=autotune,
        )
        return ds.batch(BATCH_SIZE).prefetch(autotune)

    def decode_resize() -> Any:
        ds = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files))
        ds = ds.map(
            lambda p: resize_uint8(tf.io.decode_jpeg(tf.io.read_file(p), channels=3), IMAGE_SIZE),
            num_parallel_calls=autotune,
        )
        ds = ds.batch(BATCH_SIZE).map(lambda x: tf.cast(x, tf.float32))
        return ds.prefetch(autotune)

    def ours(policy: str, **options: Any) -> Callable[[], Any]:
        def build() -> Any:
            return train_dataset(
                split,
                image_size=IMAGE_SIZE,
                batch_size=BATCH_SIZE,
                augment=AugmentConfig(policy=policy, options=options),
            )

        return build

    augmenter = keras.Sequential(
        [
            keras.layers.RandomRotation(40 / 360, fill_mode="nearest"),
            keras.layers.RandomZoom(0.2, fill_mode="nearest"),
            keras.layers.RandomTranslation(0.2, 0.2, fill_mode="nearest"),
            keras.layers.RandomFlip("horizontal"),
        ]
    )

    def keras_path() -> Any:
        ds = keras.utils.image_dataset_from_directory(
            root,
            image_size=(IMAGE_SIZE, IMAGE_SIZE),
            batch_size=BATCH_SIZE,
            label_mode="categorical",
            shuffle=True,
            verbose=False,
        )
        ds = ds.map(lambda x, y: (augmenter(x, training=True), y), num_parallel_calls=autotune)
        return ds.prefetch(autotune)

    return {
        "decode only": decode_only,
        "decode + resize 224": decode_resize,
        "ours: reference set": ours("reference"),
        "ours: reference, nearest": ours("reference", interpolation="nearest"),
        "keras: dir + 4 layers": keras_path,
        "ours: default policy": ours("default"),
        "ours: default + saturation": ours("default", saturation=0.2),
    }


def drain(dataset: Any) -> int:
    """Iterate a dataset to the end; the number of images it yielded."""
    images = 0
    for element in dataset:
        first = element[0] if isinstance(element, tuple) else element
        images += int(first.shape[0])
    return images


def run(count: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Build the files, time every pipeline.

    :returns: name -> (best images per second of wall time, best images per
        second of this process's CPU time). The second is what a pipeline
        costs, and holds up when other processes share the machine.
    """
    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as tmp:
        root = Path(tmp)
        paths = make_images(root, count)
        builders = pipelines(root, paths)
        wall = dict.fromkeys(builders, 0.0)
        cpu = dict.fromkeys(builders, 0.0)
        for build in builders.values():  # warm up: trace functions, fill the page cache
            drain(build().take(2))
        for _ in range(repeats):
            for name, build in builders.items():
                dataset = build()
                start, start_cpu = time.perf_counter(), time.process_time()
                images = drain(dataset)
                wall[name] = max(wall[name], images / (time.perf_counter() - start))
                cpu[name] = max(cpu[name], images / (time.process_time() - start_cpu))
        return {name: (wall[name], cpu[name]) for name in builders}


def report(rates: dict[str, tuple[float, float]], count: int, repeats: int) -> str:
    """The table: images/s (wall and CPU), and the ratios the goals are about."""
    lines = [
        f"input pipeline, {count} JPEGs ~512x384 q90 -> {IMAGE_SIZE}px, batch {BATCH_SIZE}, "
        f"best of {repeats} passes, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}",
        f"{'pipeline':<28}{'images/s':>10}{'images/CPU-s':>14}",
    ]
    lines += [f"{name:<28}{w:>10.0f}{c:>14.0f}" for name, (w, c) in rates.items()]

    def ratio(a: str, b: str) -> str:
        return f"{rates[a][0] / rates[b][0]:>6.2f}x{rates[a][1] / rates[b][1]:>9.2f}x"

    keras_path, floor = "keras: dir + 4 layers", "decode + resize 224"
    lines += [
        "",
        f"{'ratio':<44}{'wall':>7}{'CPU':>10}{'goal':>10}",
        f"{'ours reference set (bilinear) / keras path':<44}"
        f"{ratio('ours: reference set', keras_path)}{'>= 5x':>10}",
        f"{'ours reference set (nearest) / keras path':<44}"
        f"{ratio('ours: reference, nearest', keras_path)}{'>= 5x':>10}",
        f"{'ours default policy / decode + resize':<44}"
        f"{ratio('ours: default policy', floor)}{'>= 0.85x':>10}",
        f"{'ours default + saturation 0.2 / decode + resize':<44}"
        f"{ratio('ours: default + saturation', floor)}{'':>10}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``--quick`` for a smoke run, ``--images`` and ``--repeats`` to tune."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="32 images, one pass (smoke run)")
    # A pass over a few hundred images ends before tf.data's autotuner has
    # ramped up its parallelism, and then wall time understates a pipeline.
    parser.add_argument("--images", type=int, default=1536, help="JPEGs to build (default 1536)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per pipeline")
    args = parser.parse_args(argv)
    count, repeats = (32, 1) if args.quick else (args.images, args.repeats)
    print(report(run(count, repeats), count, repeats))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
