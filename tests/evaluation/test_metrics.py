"""compute_metrics against hand-computed answers and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from food_recognition.evaluation import ConfusedPair, compute_metrics


def _random_case(seed: int = 0, n: int = 300, c: int = 12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c))
    labels = rng.integers(0, c, n)
    logits[np.arange(n), labels] += 1.5  # better than chance, not perfect
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probabilities.astype("float32"), labels


def test_agrees_with_scikit_learn() -> None:
    probabilities, labels = _random_case()
    classes = tuple(f"c{i}" for i in range(12))
    result = compute_metrics(probabilities, labels, classes)
    everything = np.arange(12)
    assert result.top1 == pytest.approx(sk.accuracy_score(labels, probabilities.argmax(1)))
    assert result.top5 == pytest.approx(
        sk.top_k_accuracy_score(labels, probabilities, k=5, labels=everything)
    )
    assert result.log_loss == pytest.approx(
        sk.log_loss(labels, probabilities, labels=everything), rel=1e-5
    )
    np.testing.assert_array_equal(
        result.confusion, sk.confusion_matrix(labels, probabilities.argmax(1), labels=everything)
    )
    recall = sk.recall_score(labels, probabilities.argmax(1), average=None, labels=everything)
    assert list(result.per_class_accuracy.values()) == pytest.approx(list(recall))


def test_known_answers_and_most_confused() -> None:
    probabilities = np.array(
        [
            [0.8, 0.1, 0.1],  # a -> a
            [0.6, 0.3, 0.1],  # b -> a
            [0.7, 0.2, 0.1],  # b -> a
            [0.1, 0.2, 0.7],  # b -> c
            [0.2, 0.2, 0.6],  # c -> c
        ]
    )
    result = compute_metrics(probabilities, [0, 1, 1, 1, 2], ("a", "b", "c"))
    assert result.top1 == result.accuracy == pytest.approx(0.4)
    assert result.per_class_accuracy == {"a": 1.0, "b": 0.0, "c": 1.0}
    assert result.most_confused == (
        ConfusedPair("b", "a", 2, 2 / 3),
        ConfusedPair("b", "c", 1, 1 / 3),
    )
    assert result.top_k(1) == pytest.approx(0.4)
    assert result.top_k(2) == 1.0  # every wrong b has b second
    assert result.top5 == result.top5_accuracy == 1.0  # three classes: all in the top five


def test_class_without_images_has_nan_accuracy_and_json_null() -> None:
    result = compute_metrics(np.array([[0.9, 0.1]]), [0], ("a", "b"))
    assert np.isnan(result.per_class_accuracy["b"])
    assert result.to_dict()["per_class_accuracy"] == {"a": 1.0, "b": None}


def test_shapes_that_disagree() -> None:
    with pytest.raises(ValueError, match="do not fit 3 labels and 2 classes"):
        compute_metrics(np.ones((2, 2)), [0, 1, 1], ("a", "b"))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        compute_metrics(np.ones((1, 2)), [2], ("a", "b"))
