"""The scoring core in-process: request parsing, options, limits, answers."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from food_recognition.serving.scoring import (
    BlobRef,
    Limits,
    ModelDirError,
    RequestError,
    Scorer,
    find_package_dir,
    parse_request,
)
from tests.fixtures.inference_server import TINY_CLASSES, make_tiny_package

LIMITS = Limits(max_bytes=100_000, max_pixels=1_000_000, blob_containers=("images",))


@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> Scorer:
    from food_recognition.package import load_package

    package = load_package(make_tiny_package(tmp_path_factory.mktemp("pkg") / "package"))
    scorer = Scorer(package, limits=LIMITS)
    scorer.warm_up()
    return scorer


def _json(document: object) -> bytes:
    return json.dumps(document).encode()


# -- parse_request ---------------------------------------------------------------


def test_raw_bytes_are_an_image_and_query_options_pass_through(jpeg_bytes: bytes) -> None:
    request = parse_request(jpeg_bytes, "image/jpeg", {"top_k": "2"}, LIMITS)
    assert request.image == jpeg_bytes
    assert request.blob is None
    assert request.options == {"top_k": "2"}


def test_json_base64_image_and_options(jpeg_bytes: bytes) -> None:
    body = _json({"image": base64.b64encode(jpeg_bytes).decode(), "top_k": 1})
    request = parse_request(body, "application/json", {}, LIMITS)
    assert request.image == jpeg_bytes
    assert request.options == {"top_k": 1}


def test_json_is_recognised_without_a_content_type(jpeg_bytes: bytes) -> None:
    body = _json({"image": base64.b64encode(jpeg_bytes).decode()})
    assert parse_request(body, None, {}, LIMITS).image == jpeg_bytes


def test_blob_in_an_allowed_container() -> None:
    body = _json({"blob": {"container": "images", "name": "pho/1.jpg"}})
    assert parse_request(body, None, {}, LIMITS).blob == BlobRef("images", "pho/1.jpg")


@pytest.mark.parametrize(
    ("document", "status", "words"),
    [
        ({"blob": {"container": "secrets", "name": "a.jpg"}}, 403, "not one this deployment"),
        ({"blob": {"container": "images", "name": "../secrets/a.jpg"}}, 400, "'..'"),
        ({"blob": {"container": "images", "name": "/a.jpg"}}, 400, "not allowed"),
        (
            {"blob": {"container": "images", "name": "a", "url": "http://evil/"}},
            400,
            "exactly",
        ),
        ({"blob": "https://account.blob.core.windows.net/images/a.jpg"}, 400, "exactly"),
        ({"url": "http://example.com/a.jpg"}, 400, "unknown field 'url'"),
        ({"image": "AAAA", "blob": {"container": "images", "name": "a"}}, 400, "exactly one"),
        ({"top_k": 3}, 400, "exactly one"),
        ({"image": 5}, 400, "base64 string"),
        ({"image": ""}, 400, "empty"),
        ({"image": "not base64!"}, 400, "not valid base64"),
        ([1, 2], 400, "must be an object"),
    ],
)
def test_bad_json_requests_are_refused_with_a_reason(
    document: object, status: int, words: str
) -> None:
    with pytest.raises(RequestError) as error:
        parse_request(_json(document), "application/json", {}, LIMITS)
    assert error.value.status == status
    assert words in error.value.message


def test_malformed_json_names_the_parse_error() -> None:
    with pytest.raises(RequestError, match="not valid JSON"):
        parse_request(b'{"image": ', "application/json", {}, LIMITS)


def test_empty_body_and_unknown_query_parameter(jpeg_bytes: bytes) -> None:
    with pytest.raises(RequestError, match="body is empty"):
        parse_request(b"", "image/jpeg", {}, LIMITS)
    with pytest.raises(RequestError, match="unknown query parameter 'url'"):
        parse_request(jpeg_bytes, "image/jpeg", {"url": "http://example.com"}, LIMITS)


def test_too_many_bytes_is_413_raw_and_base64() -> None:
    big = b"\xff\xd8\xff" + bytes(LIMITS.max_bytes)
    with pytest.raises(RequestError) as raw:
        parse_request(big, "image/jpeg", {}, LIMITS)
    with pytest.raises(RequestError) as encoded:
        parse_request(_json({"image": base64.b64encode(big).decode()}), None, {}, LIMITS)
    assert raw.value.status == encoded.value.status == 413


# -- Scorer -----------------------------------------------------------------------


def test_answer_lists_top_k_labels_with_probabilities(scorer: Scorer, jpeg_bytes: bytes) -> None:
    answer = scorer.handle(jpeg_bytes, "image/jpeg", {"top_k": "2", "all_probabilities": "true"})
    predictions = answer["predictions"]
    assert len(predictions) == 2
    assert {p["class"] for p in predictions} <= set(TINY_CLASSES)
    assert predictions[0]["probability"] >= predictions[1]["probability"]
    assert predictions[0]["label"] == predictions[0]["class"].replace("_", " ").title()
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert set(answer["timing_ms"]) == {"decode", "predict", "total"}
    assert answer["image"] == {"width": 64, "height": 48}


def test_probabilities_are_the_packages_own(scorer: Scorer, png_bytes: bytes) -> None:
    from food_recognition.datasets.images import load_image_bytes
    from food_recognition.datasets.pipeline import eval_transform

    answer = scorer.handle(png_bytes, "image/png", {"all_probabilities": "1", "tta": "none"})
    pixels = eval_transform(load_image_bytes(png_bytes), scorer.package.input_size)
    expected = scorer.package.predict(np.asarray(pixels)[np.newaxis])[0]
    got = [answer["probabilities"][name] for name in scorer.package.classes]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_webp_and_tta_options(scorer: Scorer, webp_bytes: bytes) -> None:
    answer = scorer.handle(webp_bytes, "image/webp", {"tta": "flip"})
    assert answer["tta"]["policy"] == "flip"
    assert answer["tta"]["views"] == 2
    adaptive = scorer.handle(webp_bytes, None, {"tta": "flip", "tta_threshold": "1.0"})
    assert adaptive["tta"]["threshold"] == 1.0
    assert adaptive["tta"]["extra_views"] is True


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"top_k": "0"}, "top_k=0 is out of range; choose 1 to 3"),
        ({"top_k": "4"}, "top_k=4 is out of range"),
        ({"top_k": "two"}, "must be an integer"),
        ({"tta": "sideways"}, "unknown TTA policy 'sideways'"),
        ({"tta_threshold": "1.5", "tta": "flip"}, "out of range"),
        ({"tta_threshold": "nan", "tta": "flip"}, "finite"),
        ({"tta": "none", "tta_threshold": "0.5"}, "needs a TTA policy"),
        ({"all_probabilities": "maybe"}, "true or false"),
    ],
)
def test_bad_options_are_400_naming_the_option(
    scorer: Scorer, jpeg_bytes: bytes, query: dict[str, str], words: str
) -> None:
    with pytest.raises(RequestError) as error:
        scorer.handle(jpeg_bytes, "image/jpeg", query)
    assert error.value.status == 400
    assert words in error.value.message


def test_json_option_types_are_checked(scorer: Scorer, jpeg_bytes: bytes) -> None:
    image = base64.b64encode(jpeg_bytes).decode()
    with pytest.raises(RequestError, match="top_k=True must be an integer"):
        scorer.handle(_json({"image": image, "top_k": True}), None, {})
    assert len(scorer.handle(_json({"image": image, "top_k": 3}), None, {})["predictions"]) == 3


def test_images_that_are_not_whole_are_400(scorer: Scorer, jpeg_bytes: bytes) -> None:
    for body in (b"GIF89a? not really", b"hello world", jpeg_bytes[: len(jpeg_bytes) // 2]):
        with pytest.raises(RequestError) as error:
            scorer.handle(body, "image/jpeg", {})
        assert error.value.status == 400
        assert "could not be read" in error.value.message


def test_too_many_pixels_is_refused_from_the_header(scorer: Scorer, bomb_png: bytes) -> None:
    with pytest.raises(RequestError) as error:
        scorer.handle(bomb_png, "image/png", {})
    assert error.value.status == 413
    assert "2000x1000" in error.value.message


def test_blob_request_without_a_configured_reader_is_403(scorer: Scorer) -> None:
    body = _json({"blob": {"container": "images", "name": "a.jpg"}})
    with pytest.raises(RequestError) as error:
        scorer.handle(body, None, {})
    assert error.value.status == 403


def test_blob_request_reads_through_the_reader(scorer: Scorer, jpeg_bytes: bytes) -> None:
    import attrs

    reads: list[tuple[BlobRef, int]] = []

    def reader(blob: BlobRef, max_bytes: int) -> bytes:
        reads.append((blob, max_bytes))
        return jpeg_bytes

    with_blobs = attrs.evolve(scorer, blob_reader=reader)
    answer = with_blobs.handle(_json({"blob": {"container": "images", "name": "x.jpg"}}), None, {})
    assert reads == [(BlobRef("images", "x.jpg"), LIMITS.max_bytes)]
    assert answer["predictions"]


# -- the model folder and the environment ---------------------------------------------


def test_find_package_dir_accepts_the_package_or_one_folder_holding_it(
    tmp_path: Path, tiny_package: Path
) -> None:
    assert find_package_dir(tiny_package) == tiny_package
    assert find_package_dir(tiny_package.parent) == tiny_package
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelDirError, match="no model package"):
        find_package_dir(tmp_path / "empty")
    for name in ("a", "b"):
        (tmp_path / "two" / name).mkdir(parents=True)
        (tmp_path / "two" / name / "model.keras").write_bytes(b"")
    with pytest.raises(ModelDirError, match="several model packages"):
        find_package_dir(tmp_path / "two")


def test_limits_from_the_environment() -> None:
    limits = Limits.from_env(
        {
            "FOOD_RECOGNITION_MAX_BYTES": "1234",
            "FOOD_RECOGNITION_BLOB_CONTAINERS": "images, uploads ,",
            "FOOD_RECOGNITION_BLOB_ACCOUNT_URL": "https://acct.blob.core.windows.net",
        }
    )
    assert limits.max_bytes == 1234
    assert limits.blob_containers == ("images", "uploads")
    assert Limits.from_env({}).blob_containers == ()
    with pytest.raises(ValueError, match="FOOD_RECOGNITION_MAX_PIXELS"):
        Limits.from_env({"FOOD_RECOGNITION_MAX_PIXELS": "-3"})


def test_no_blob_reader_unless_account_and_containers_are_set() -> None:
    from food_recognition.serving.blobs import make_blob_reader

    assert make_blob_reader(Limits(), {}) is None
    assert make_blob_reader(Limits(blob_containers=("images",)), {}) is None
    configured = Limits(blob_containers=("images",), blob_account_url="https://a.example")
    assert make_blob_reader(configured, {}) is not None


@pytest.mark.slow
def test_a_package_built_by_the_library_scores_after_a_safe_mode_load(
    tmp_path: Path, jpeg_bytes: bytes
) -> None:
    from food_recognition.config import RunConfig, with_overrides
    from food_recognition.models import build
    from food_recognition.package import load_package, save_package

    config = with_overrides(
        RunConfig(),
        {"model.backbone": "mobilenet_v3_small", "model.input_size": "32", "data.path": "x"},
    )
    model = build(config.model, len(TINY_CLASSES))
    save_package(tmp_path / "package", model, TINY_CLASSES, None, config)
    scorer = Scorer(load_package(find_package_dir(tmp_path)), limits=LIMITS)
    answer = scorer.handle(jpeg_bytes, "image/jpeg", {"all_probabilities": "true"})
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert answer["predictions"][0]["label"] in ("Apple pie", "Bibimbap", "Caesar salad")
