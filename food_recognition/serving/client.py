"""Send an image to a scoring URI: a local server or an Azure ML online endpoint, with one call.

The SDK's ``online_endpoints.invoke`` only posts a JSON file; this client posts
the image bytes themselves to the scoring URI, with the endpoint's key or an
Azure AD token (both go in the ``Authorization: Bearer`` header), and options
as query parameters.

>>> from food_recognition.serving.client import Prediction
>>> answer = {"predictions": [{"class": "pho", "label": "Pho", "probability": 0.9}],
...           "tta": {"policy": "identity"}, "timing_ms": {"total": 5.0}}
>>> prediction = Prediction.from_json(answer)
>>> prediction.top.class_name, prediction.top.probability
('pho', 0.9)
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import attrs
import requests

from food_recognition.errors import ServingError

__all__ = ["Label", "Prediction", "ScoringClient", "ScoringError", "predict_image"]

#: The header that sends a request to one deployment of an endpoint (bypassing the traffic split).
DEPLOYMENT_HEADER = "azureml-model-deployment"


class ScoringError(ServingError):
    """The scoring URI refused a request or failed; ``status`` and the server's ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


@attrs.define(frozen=True)
class Label:
    """One predicted class: its name in the package, its human label, its probability."""

    class_name: str
    label: str
    probability: float


@attrs.define(frozen=True)
class Prediction:
    """The answer to one image.

    :param labels: the top-k labels, best first.
    :param tta: what TTA was applied (policy, views).
    :param timing_ms: the server's decode, predict and total times.
    :param probabilities: class name to probability, when asked for.
    :param raw: the JSON the server sent.
    """

    labels: tuple[Label, ...]
    tta: Mapping[str, Any]
    timing_ms: Mapping[str, float]
    probabilities: Mapping[str, float] | None
    raw: Mapping[str, Any]

    @property
    def top(self) -> Label:
        """The most probable label."""
        return self.labels[0]

    @classmethod
    def from_json(cls, answer: Mapping[str, Any]) -> Prediction:
        """Read the scoring script's answer.

        :param answer: the decoded JSON.
        :returns: the prediction.
        :raises ScoringError: the JSON is not a scoring answer.
        """
        try:
            labels = tuple(
                Label(str(item["class"]), str(item["label"]), float(item["probability"]))
                for item in answer["predictions"]
            )
            return cls(
                labels=labels,
                tta=dict(answer.get("tta", {})),
                timing_ms=dict(answer.get("timing_ms", {})),
                probabilities=answer.get("probabilities"),
                raw=answer,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ScoringError(200, f"the answer is not a scoring result: {error}") from None


@attrs.define
class ScoringClient:
    """A client of one scoring URI.

    :param scoring_uri: ``http://127.0.0.1:PORT/score`` or an endpoint's scoring URI.
    :param key: the endpoint's key (``key`` auth mode); never put one in code, read it
        from the environment or from ``MLClient.online_endpoints.get_keys``.
    :param token: an Azure AD token (``aad_token`` auth mode).
    :param deployment: send every request to this deployment (the
        ``azureml-model-deployment`` header), bypassing the traffic split.
    :param timeout_s: seconds to wait for an answer.
    """

    scoring_uri: str
    key: str | None = attrs.field(default=None, repr=False)
    token: str | None = attrs.field(default=None, repr=False)
    deployment: str | None = None
    timeout_s: float = 60.0
    _session: requests.Session = attrs.field(factory=requests.Session, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.key and self.token:
            raise ValueError("give either key or token, not both")

    def predict(
        self,
        image: bytes,
        *,
        top_k: int | None = None,
        tta: str | None = None,
        tta_threshold: float | None = None,
        all_probabilities: bool = False,
        as_json: bool = False,
    ) -> Prediction:
        """Label one image.

        :param image: JPEG, PNG or WebP bytes.
        :param top_k: how many labels; the server's default (5) if ``None``.
        :param tta: a TTA policy name, or ``"none"``; the package's own if ``None``.
        :param tta_threshold: adaptive TTA threshold.
        :param all_probabilities: also return every class's probability.
        :param as_json: send ``{"image": base64}`` instead of the raw bytes.
        :returns: the prediction.
        :raises ScoringError: the server refused the request (its message) or failed.
        """
        options = _options(top_k, tta, tta_threshold, all_probabilities)
        if as_json:
            document = {"image": base64.b64encode(image).decode("ascii"), **options}
            return self._post(json_body=document)
        return self._post(data=image, params={k: _query(v) for k, v in options.items()})

    def predict_blob(
        self,
        container: str,
        name: str,
        *,
        top_k: int | None = None,
        tta: str | None = None,
        tta_threshold: float | None = None,
        all_probabilities: bool = False,
    ) -> Prediction:
        """Label an image the deployment reads from Blob Storage with its own identity.

        :param container: a container on the deployment's allow-list.
        :param name: the blob name.
        :returns: the prediction.
        :raises ScoringError: e.g. 403 for a container the deployment may not read.
        """
        options = _options(top_k, tta, tta_threshold, all_probabilities)
        return self._post(json_body={"blob": {"container": container, "name": name}, **options})

    def close(self) -> None:
        """Close the connection pool."""
        self._session.close()

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        secret = self.key or self.token
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        if self.deployment:
            headers[DEPLOYMENT_HEADER] = self.deployment
        return headers

    def _post(
        self,
        *,
        data: bytes | None = None,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Prediction:
        headers = self._headers()
        if data is not None:
            headers["Content-Type"] = _content_type(data)
        response = self._session.post(
            self.scoring_uri,
            data=data,
            json=json_body,
            params=params,
            headers=headers,
            timeout=self.timeout_s,
        )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code != 200:
            message = (
                answer.get("message", response.text[:500])
                if isinstance(answer, dict)
                else response.text[:500]
            )
            raise ScoringError(response.status_code, str(message))
        if not isinstance(answer, dict):
            raise ScoringError(200, f"the answer is not JSON: {response.text[:200]!r}")
        return Prediction.from_json(answer)


def predict_image(
    scoring_uri: str,
    image: bytes,
    *,
    key: str | None = None,
    token: str | None = None,
    deployment: str | None = None,
    top_k: int | None = None,
    tta: str | None = None,
    tta_threshold: float | None = None,
    all_probabilities: bool = False,
    timeout_s: float = 60.0,
) -> Prediction:
    """Label one image at a scoring URI (one request; see :class:`ScoringClient` for many).

    :param scoring_uri: a local server's ``/score`` or an endpoint's scoring URI.
    :param image: JPEG, PNG or WebP bytes.
    :param key: the endpoint key, if the endpoint uses key auth.
    :param token: an Azure AD token, if it uses ``aad_token`` auth.
    :param deployment: pin the request to one deployment.
    :param top_k: how many labels.
    :param tta: a TTA policy name or ``"none"``.
    :param tta_threshold: adaptive TTA threshold.
    :param all_probabilities: also return every class's probability.
    :param timeout_s: seconds to wait.
    :returns: the prediction.
    :raises ScoringError: the server refused the request or failed.
    """
    client = ScoringClient(
        scoring_uri, key=key, token=token, deployment=deployment, timeout_s=timeout_s
    )
    try:
        return client.predict(
            image,
            top_k=top_k,
            tta=tta,
            tta_threshold=tta_threshold,
            all_probabilities=all_probabilities,
        )
    finally:
        client.close()


def _options(
    top_k: int | None, tta: str | None, tta_threshold: float | None, all_probabilities: bool
) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if top_k is not None:
        options["top_k"] = top_k
    if tta is not None:
        options["tta"] = tta
    if tta_threshold is not None:
        options["tta_threshold"] = tta_threshold
    if all_probabilities:
        options["all_probabilities"] = True
    return options


def _query(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _content_type(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"
