"""The request parser under abuse: every bad request is one 4xx message, never a 500.

The scoring script's ``run()`` is driven in-process with WSGI requests built by
werkzeug (what Flask hands it under azmlinfsrv), with named abuse cases first
and then Hypothesis-generated bodies, content types and query strings.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from flask import Request
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder

from food_recognition.serving import score
from food_recognition.serving.scoring import (
    MAX_JSON_DEPTH,
    OPTION_NAMES,
    Limits,
    RequestError,
    Scorer,
    json_depth,
    parse_request,
)

LIMITS = Limits(max_bytes=100_000, max_pixels=1_000_000, blob_containers=("images",))


@pytest.fixture(scope="module")
def scoring_script(tiny_package: object) -> Iterator[None]:
    """``score.run`` with a scorer on the tiny package, as ``init()`` would set it up."""
    from food_recognition.package import load_package

    scorer = Scorer(load_package(tiny_package), limits=LIMITS)  # type: ignore[arg-type]
    scorer.warm_up()
    previous, score._scorer = score._scorer, scorer
    yield
    score._scorer = previous


def post(
    body: bytes,
    content_type: str | None = None,
    query: Mapping[str, str] | None = None,
    method: str = "POST",
) -> tuple[int, dict[str, Any]]:
    """What ``run()`` answers to one request: the status and the JSON body."""
    headers = {} if content_type is None else {"Content-Type": content_type}
    builder = EnvironBuilder(
        path="/score",
        method=method,
        input_stream=io.BytesIO(body),
        headers=headers,
        query_string=dict(query or {}),
    )
    environ = builder.get_environ()
    environ["CONTENT_LENGTH"] = str(len(body))
    response = score.run(Request(environ))
    return response.status_code, json.loads(response.get_data())


def assert_one_message(status: int, answer: dict[str, Any], caplog: Any) -> None:
    assert status < 500, answer
    if status != 200:
        assert 400 <= status < 500
        message = answer["message"]
        assert isinstance(message, str)
        assert message
        assert "\n" not in message
        assert "Traceback" not in message
        assert len(message) < 1000
    tracebacks = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert tracebacks == []


# -- the cases -----------------------------------------------------------


def nested(depth: int) -> bytes:
    return b'{"image": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    ("name", "body", "content_type", "query", "words"),
    [
        ("JSON 1,000 levels deep", nested(1000), "application/json", {}, "nested 1001 levels"),
        ("an array 1,000 deep", b"[" * 1000 + b"]" * 1000, "application/json", {}, "nested"),
        ("objects 5,000 deep", b'{"a":' * 5000 + b"1" + b"}" * 5000, None, {}, "nested"),
        (
            "top_k with 5,000 digits",
            b'{"image": "AAAA", "top_k": ' + b"7" * 5000 + b"}",
            "application/json",
            {},
            "5000 digits",
        ),
        (
            "tta_threshold with 4,301 digits",
            b'{"image": "AAAA", "tta": "flip", "tta_threshold": ' + b"1" * 4301 + b"}",
            "application/json",
            {},
            "4301 digits",
        ),
        ("query top_k=\u00b2", b"not an image", None, {"top_k": "\u00b2"}, "top_k"),
        ("query top_k=\u0663 (Arabic-Indic 3)", b"x", None, {"top_k": "\u0663"}, "top_k"),
        ("query top_k of 5,000 digits", b"x", None, {"top_k": "9" * 5000}, "top_k"),
        ("query tta_threshold of 5,000 digits", b"x", None, {"tta_threshold": "1" * 5000}, "tta"),
        ("NaN threshold", b'{"image": "AAAA", "tta_threshold": NaN}', None, {}, "NaN"),
    ],
)
def test_the_reported_bad_requests_get_a_400_naming_the_problem(
    scoring_script: None,
    caplog: pytest.LogCaptureFixture,
    name: str,
    body: bytes,
    content_type: str | None,
    query: dict[str, str],
    words: str,
) -> None:
    status, answer = post(body, content_type, query)
    assert status == 400, (name, answer)
    assert words in answer["message"], (name, answer)
    assert_one_message(status, answer, caplog)


def test_depth_is_counted_outside_strings_and_bounded_before_parsing() -> None:
    assert json_depth(b'{"image": "[[[[[[[[[[[[[[[[[[[[", "blob": {"name": "a\\"{{{{"}}') == 2
    assert json_depth(b"7") == 0
    with pytest.raises(RequestError, match="nested") as error:
        parse_request(b'{"blob": ' + b"[" * (MAX_JSON_DEPTH + 1), None, {}, LIMITS)
    assert error.value.status == 400


def test_a_blob_name_over_azures_limit_is_refused_with_the_reason() -> None:
    body = json.dumps({"blob": {"container": "images", "name": "a" * 1025}}).encode()
    with pytest.raises(RequestError) as error:
        parse_request(body, "application/json", {}, LIMITS)
    assert error.value.status == 400
    assert "1025 characters" in error.value.message
    assert "limit of 1024" in error.value.message
    assert "naming-and-referencing" in error.value.message  # where Azure says so
    fine = json.dumps({"blob": {"container": "images", "name": "a" * 1024}}).encode()
    assert parse_request(fine, "application/json", {}, LIMITS).blob is not None


def test_a_good_request_still_scores_after_the_battery(
    scoring_script: None, jpeg_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps({"image": base64.b64encode(jpeg_bytes).decode(), "top_k": 2}).encode()
    status, answer = post(body, "application/json")
    assert status == 200
    assert len(answer["predictions"]) == 2
    assert_one_message(status, answer, caplog)


# -- generated requests ------------------------------------------------------------

_KEYS = st.sampled_from(["image", "blob", *OPTION_NAMES, "url", "container", "name", ""])
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["\u00b2", "\u0663", "1e999", "-0", "0x10", " 3 ", "NaN", "flip", "none"])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10) | _KEYS, children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    document = draw(st.dictionaries(_KEYS, _VALUES, max_size=5))
    if draw(st.booleans()):
        document["blob"] = {
            "container": draw(st.sampled_from(["images", "private", ""])),
            "name": draw(st.text(max_size=30) | st.just("a" * 1100)),
        }
    text = json.dumps(document, allow_nan=True)
    if draw(st.booleans()):  # cut it short, or glue junk onto it
        text = text[: draw(st.integers(0, len(text)))] + draw(st.text(max_size=5))
    return text.encode("utf-8", "surrogatepass")


_BODIES = (
    st.binary(max_size=300)
    | json_bodies()
    | st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n)
    | st.integers(1, 6000).map(lambda n: b'{"top_k": ' + b"9" * n + b"}")
    | st.sampled_from([b"", b"{", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b'{"image": ""}'])
)
_CONTENT_TYPES = st.none() | st.sampled_from(
    ["application/json", "image/jpeg", "image/png", "text/plain", "application/x+json; q=1"]
)
_QUERIES = st.dictionaries(
    st.sampled_from(OPTION_NAMES) | st.text(max_size=8),
    _SCALARS.map(str),
    max_size=3,
)


@settings(
    max_examples=300,
    deadline=None,  # a shared CPU; speed is the benchmark's business
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=_BODIES, content_type=_CONTENT_TYPES, query=_QUERIES)
@example(body=nested(1000), content_type="application/json", query={})
@example(body=b"x", content_type=None, query={"top_k": "\u00b2"})
def test_generated_requests_get_an_answer_or_one_4xx_message(
    scoring_script: None,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    content_type: str | None,
    query: dict[str, str],
) -> None:
    caplog.clear()
    status, answer = post(body, content_type, query)
    assert_one_message(status, answer, caplog)


@settings(max_examples=100, deadline=None)
@given(
    value=_VALUES,
    name=st.sampled_from(OPTION_NAMES),
)
def test_generated_option_values_are_checked_or_refused_with_one_line(
    scorer_for_options: Scorer, value: Any, name: str
) -> None:
    try:
        scorer_for_options.check_options({name: value})
    except RequestError as error:
        assert 400 <= error.status < 500
        assert "\n" not in error.message
        assert len(error.message) < 1000


@pytest.fixture(scope="module")
def scorer_for_options(tiny_package: object) -> Scorer:
    from food_recognition.package import load_package

    return Scorer(load_package(tiny_package), limits=LIMITS)  # type: ignore[arg-type]
