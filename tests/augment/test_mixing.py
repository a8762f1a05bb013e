"""MixUp and CutMix: soft labels that sum to 1 and match what happened to the pixels."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from food_recognition.augment import mix_batch

SEED = tf.constant([11, 12], tf.int64)


def flat_batch(size: int = 16, batch: int = 6, classes: int = 6) -> tuple[tf.Tensor, tf.Tensor]:
    """Image i is filled with the value 40 * i and has label i."""
    values = np.arange(batch, dtype=np.float32) * 40
    images = np.broadcast_to(values[:, None, None, None], (batch, size, size, 3)).copy()
    labels = np.eye(classes, dtype=np.float32)[:batch]
    return tf.constant(images), tf.constant(labels)


def test_no_alpha_leaves_the_batch_alone() -> None:
    images, labels = flat_batch()
    out_images, out_labels = mix_batch(images, labels, mixup_alpha=0, cutmix_alpha=0, seed=SEED)
    assert out_images is images and out_labels is labels


def test_mixup_blends_images_and_labels_by_the_same_weight() -> None:
    images, labels = flat_batch()
    out, soft = mix_batch(images, labels, mixup_alpha=0.4, cutmix_alpha=0, seed=SEED)
    soft = soft.numpy()
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, atol=1e-6)
    assert ((soft > 0.01) & (soft < 0.99)).any(), "labels stayed one-hot"
    batch = len(soft)
    for i in range(batch):
        weight = soft[i, i]
        expected = weight * 40 * i + (1 - weight) * 40 * (batch - 1 - i)
        np.testing.assert_allclose(out.numpy()[i], expected, atol=1e-3)


def test_cutmix_label_weight_is_the_pasted_area() -> None:
    images, labels = flat_batch(size=32)
    out, soft = mix_batch(images, labels, mixup_alpha=0, cutmix_alpha=1.0, seed=SEED)
    out, soft = out.numpy(), soft.numpy()
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, atol=1e-6)
    assert ((soft > 0.01) & (soft < 0.99)).any(), "labels stayed one-hot"
    batch = len(soft)
    for i in range(batch):
        partner = batch - 1 - i
        if partner == i:
            continue
        pasted = (out[i, :, :, 0] == 40 * partner).mean()
        np.testing.assert_allclose(soft[i, partner], pasted, atol=1e-6)
        np.testing.assert_allclose(soft[i, i], 1 - pasted, atol=1e-6)


def test_both_on_gives_soft_labels_summing_to_one() -> None:
    images, labels = flat_batch()
    for seed in range(4):
        _, soft = mix_batch(
            images, labels, mixup_alpha=0.2, cutmix_alpha=1.0, seed=tf.constant([seed, 1], tf.int64)
        )
        np.testing.assert_allclose(soft.numpy().sum(axis=1), 1.0, atol=1e-6)
