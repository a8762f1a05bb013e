"""Batched multi-view prediction: run a model on every TTA view of every image.

:func:`predict_with_tta` takes the views a policy makes of each image, sends
them to the model in batches (all views of an image in the same forward pass,
never one image at a time), and merges each image's views into one
probability vector. With :attr:`TTAConfig.threshold
<food_recognition.config.TTAConfig.threshold>` set it is *adaptive*: one
plain pass for every image, the policy's views only for the images whose top
probability falls under the threshold, so most images cost one pass.

>>> import numpy as np
>>> from food_recognition.config import TTAConfig
>>> def predict(views):  # brighter views are more confidently class 0
...     p = views.mean(axis=(1, 2, 3)) / 255.0
...     return np.stack([p, 1.0 - p], axis=1)
>>> images = np.full((4, 8, 8, 3), 200.0, np.float32)
>>> result = predict_with_tta(predict, images, TTAConfig(policy="flip"))
>>> result.probabilities.shape, result.views_per_image, result.extra_view_images
((4, 2), 2, 4)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from food_recognition.tta.policies import TTAPolicy, get_tta_policy

if TYPE_CHECKING:
    from food_recognition.config import TTAConfig

__all__ = ["PredictFn", "TTAResult", "merge_views", "predict_with_tta"]

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

#: A function from a batch of views float32 ``[B, H, W, 3]`` in ``[0, 255]``
#: to probabilities ``[B, C]``.
PredictFn = Callable[[Any], Any]

# log(0) would make one view's zero veto a class outright under mean_logit.
_LOG_FLOOR = 1e-7


@attrs.define(frozen=True, eq=False)
class TTAResult:
    """What :func:`predict_with_tta` found.

    :param probabilities: merged probabilities ``[N, C]``.
    :param view_probabilities: per-view probabilities ``[N, V, C]`` when asked
        for (``return_views=True``), else ``None``. Under adaptive TTA the views
        an image did not take are NaN (view 0 holds the plain pass when the
        policy's first view is the identity).
    :param extra_view_images: how many images took the policy's views; the
        rest were answered by one plain pass (adaptive TTA). ``N`` without a
        threshold, 0 for the ``identity`` policy.
    :param views_per_image: the policy's number of views ``V``.
    :param seconds: wall-clock seconds of the whole call (views, model, merge).
    :param forward_views: how many images the model ran on in all (the cost:
        ``N`` for one plain pass, ``N * V`` for full TTA).
    :param took_extra_views: ``[N]`` bool, which images took the policy's views.
    :param single_view_probabilities: ``[N, C]`` probabilities of the image as
        given, when the call computed them (adaptive TTA, or a policy whose
        first view is the identity), so a report can show both without a second
        pass; else ``None``.
    :param policy: the policy's name.
    """

    probabilities: FloatArray
    view_probabilities: FloatArray | None
    extra_view_images: int
    views_per_image: int
    seconds: float
    forward_views: int
    took_extra_views: BoolArray
    single_view_probabilities: FloatArray | None = None
    policy: str = ""

    @property
    def seconds_per_image(self) -> float:
        """Wall-clock seconds per input image (0 for an empty batch)."""
        count = len(self.probabilities)
        return self.seconds / count if count else 0.0


def predict_with_tta(
    model_or_predict_fn: Any,
    images: Any,
    config: TTAConfig | None = None,
    *,
    batch_size: int = 32,
    return_views: bool = False,
    policy: TTAPolicy | None = None,
) -> TTAResult:
    """Predict with test-time augmentation: every view batched, then merged.

    :param model_or_predict_fn: a Keras model, a
        :class:`~food_recognition.package.ModelPackage` (its model is used), or
        a function from views float32 ``[B, H, W, 3]`` (a NumPy array) to
        probabilities ``[B, C]``.
    :param images: float32 ``[N, H, W, 3]`` in ``[0, 255]``, already at the
        model's input size (:func:`~food_recognition.datasets.pipeline.eval_transform`).
    :param config: the policy, its options, the merge and the adaptive
        threshold; ``None`` is plain prediction (``identity``).
    :param batch_size: views per forward pass; the views of one image always go
        in the same pass, so a pass holds ``max(1, batch_size // V)`` images.
    :param return_views: also return the per-view probabilities.
    :param policy: an already built policy, overriding ``config.policy`` and its
        options (merge and threshold still come from ``config``).
    :returns: a :class:`TTAResult`.
    :raises ValueError: ``images`` is not ``[N, H, W, 3]``, ``batch_size`` is
        below 1, or the model does not return probabilities ``[B, C]``.
    :raises ~food_recognition.plugins.UnknownNameError: the policy is not registered.
    :raises ~food_recognition.tta.policies.TTAOptionError: an option the policy lacks.
    """
    from food_recognition.config import TTAConfig

    config = config or TTAConfig()
    if policy is None:
        policy = get_tta_policy(config)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be an integer >= 1")
    start = time.perf_counter()
    pixels = _as_images(images)
    predict = _as_predict_fn(model_or_predict_fn)
    count, num_views = len(pixels), policy.num_views
    plain_only = num_views == 1 and policy.first_view_is_identity

    single: FloatArray | None = None
    forward = 0
    if config.threshold is None or plain_only:
        took = np.full(count, not plain_only, dtype=bool)
        if plain_only:
            single = _predict_plain(predict, pixels, batch_size)
            view_probs = single[:, None, :]
        else:
            view_probs = _predict_views(predict, policy, pixels, batch_size, first=0)
            if policy.first_view_is_identity:
                single = view_probs[:, 0]
        forward = count * num_views
        merged = merge_views(view_probs, config.merge)
    else:
        single = _predict_plain(predict, pixels, batch_size)
        forward = count
        took = single.max(axis=1) < config.threshold
        merged = single.copy()
        view_probs = np.full((count, num_views, single.shape[1]), np.nan, dtype=np.float32)
        if policy.first_view_is_identity:
            view_probs[:, 0] = single
        if took.any():
            first = 1 if policy.first_view_is_identity else 0
            extra = _predict_views(predict, policy, pixels[took], batch_size, first=first)
            forward += int(took.sum()) * (num_views - first)
            view_probs[took, first:] = extra
            merged[took] = merge_views(view_probs[took], config.merge)
    return TTAResult(
        probabilities=merged,
        view_probabilities=view_probs if return_views else None,
        extra_view_images=int(took.sum()),
        views_per_image=num_views,
        seconds=time.perf_counter() - start,
        forward_views=forward,
        took_extra_views=took,
        single_view_probabilities=single,
        policy=policy.name,
    )


def merge_views(view_probabilities: FloatArray, merge: str = "mean_prob") -> FloatArray:
    """Merge per-view probabilities ``[N, V, C]`` into ``[N, C]``.

    :param view_probabilities: probabilities of each view of each image.
    :param merge: ``mean_prob``, the mean of the probabilities; or
        ``mean_logit``, the softmax of the mean log-probability (the normalised
        geometric mean: a view sure that a class is wrong weighs more).
    :returns: float32 ``[N, C]``, each row summing to 1.
    :raises ValueError: an unknown ``merge``.

    >>> p = np.array([[[0.99, 0.01], [0.001, 0.999], [0.6, 0.4]]], np.float32)
    >>> int(merge_views(p, "mean_prob").argmax()), int(merge_views(p, "mean_logit").argmax())
    (0, 1)
    """
    if merge == "mean_prob":
        return np.asarray(view_probabilities.mean(axis=1), dtype=np.float32)
    if merge == "mean_logit":
        logits = np.log(np.clip(view_probabilities, _LOG_FLOOR, 1.0)).mean(axis=1)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float32)
    raise ValueError(f"merge={merge!r} is not allowed; choose 'mean_prob' or 'mean_logit'")


# -- helpers ----------------------------------------------------------------------------------


def _as_images(images: Any) -> FloatArray:
    pixels = np.asarray(images, dtype=np.float32)
    if pixels.ndim != 4 or pixels.shape[-1] != 3 or len(pixels) == 0:
        raise ValueError(
            f"TTA needs a batch of RGB images [N, H, W, 3]; got shape {pixels.shape}. "
            "Pass at least one image; add a batch axis for one image (image[None]) "
            "and resize with eval_transform."
        )
    return pixels


def _as_predict_fn(target: Any) -> Callable[[Any], FloatArray]:
    model = getattr(target, "model", None)
    if model is not None and hasattr(model, "predict_on_batch"):
        target = model
    if hasattr(target, "predict_on_batch"):
        keras_model = target

        def predict(batch: Any) -> Any:
            return keras_model.predict_on_batch(batch)

        return lambda batch: _check_probabilities(predict(batch), len(batch))
    if callable(target):
        return lambda batch: _check_probabilities(target(np.asarray(batch)), len(batch))
    raise TypeError(
        f"predict_with_tta needs a Keras model, a ModelPackage or a function from images "
        f"to probabilities; got {type(target).__name__}"
    )


def _check_probabilities(output: Any, batch: int) -> FloatArray:
    probabilities = np.asarray(output, dtype=np.float32)
    if probabilities.ndim != 2 or probabilities.shape[0] != batch:
        raise ValueError(
            f"the model returned shape {probabilities.shape} for {batch} views; "
            f"expected probabilities [{batch}, num_classes]"
        )
    sums = probabilities.sum(axis=1)
    if (probabilities < 0).any() or not np.allclose(sums, 1.0, atol=1e-2):
        raise ValueError(
            "the model's outputs are not probabilities (rows must be >= 0 and sum to 1); "
            "TTA merges probabilities: end the model with a softmax"
        )
    return probabilities


def _predict_plain(predict: Callable[[Any], FloatArray], pixels: FloatArray, batch: int) -> Any:
    return np.concatenate(
        [predict(pixels[i : i + batch]) for i in range(0, len(pixels), batch)], axis=0
    )


def _predict_views(
    predict: Callable[[Any], FloatArray],
    policy: TTAPolicy,
    pixels: FloatArray,
    batch_size: int,
    *,
    first: int,
) -> FloatArray:
    """Probabilities ``[N, V - first, C]`` of views ``first..V-1`` of every image."""
    views = policy.num_views - first
    per_pass = max(1, batch_size // views)
    chunks = []
    for i in range(0, len(pixels), per_pass):
        stacked = policy.make_views(pixels[i : i + per_pass], start=first)
        shape = tuple(int(d) for d in stacked.shape)
        flat = _reshape(stacked, (shape[0] * shape[1], *shape[2:]))
        chunks.append(predict(flat).reshape(shape[0], shape[1], -1))
    return np.concatenate(chunks, axis=0)


def _reshape(views: Any, shape: tuple[int, ...]) -> Any:
    if isinstance(views, np.ndarray):
        return views.reshape(shape)
    import tensorflow as tf

    return tf.reshape(views, shape)
