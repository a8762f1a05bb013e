"""``food-recognition data``: inspect, download, upload and download-blob, end to end."""

from __future__ import annotations

import hashlib
import json
import tarfile
import uuid
import zipfile
from pathlib import Path

import pytest

from food_recognition.cli import main
from food_recognition.datasets import load_dataset
from tests.datasets import odd_images
from tests.fixtures.http_server import FileServer
from tests.fixtures.images import make_food101


@pytest.fixture(autouse=True)
def scan_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOOD_RECOGNITION_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = make_food101(tmp_path / "food-101")
    odd_images.write(root / "images" / "bibimbap" / "1001.jpg", odd_images.truncated_jpeg())
    odd_images.write(root / "images" / "bibimbap" / "1002.jpg", odd_images.exif_rotated_jpeg())
    return root


def test_inspect_prints_layout_counts_and_reasons(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "inspect", str(tree), "--validation-fraction", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "layout:  food101" in out
    assert "images:  train 14, validation 3, test 6" in out
    assert "bibimbap            4       1       2" in out
    assert "skipped: 1" in out
    assert "bibimbap/1001.jpg: truncated or corrupt JPEG" in out
    assert "bibimbap/1002.jpg: EXIF orientation 6" in out


def test_inspect_json_matches_the_api(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "inspect", str(tree), "--json", "--seed", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    dataset = load_dataset(tree, seed=3)
    assert report["layout"] == "food101"
    assert report["classes"] == list(dataset.classes)
    assert report["counts"] == {k: len(v) for k, v in dataset.splits.items()}
    assert report["per_class"]["test"] == {"apple_pie": 2, "bibimbap": 2, "caesar_salad": 2}
    assert [Path(s["path"]).name for s in report["skipped"]] == ["1001.jpg"]
    assert report["normalized"][0]["reason"] == "EXIF orientation 6"


def test_inspect_of_a_bad_tree_is_one_line(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "meta" / "classes.txt").unlink()
    assert main(["data", "inspect", str(tree)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "meta/classes.txt: missing" in err
    assert "Traceback" not in err


def test_download_and_checksum(
    tmp_path: Path, http_server: FileServer, tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = http_server.root / "food-101.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="food-101")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    url = http_server.url_for("food-101.tar.gz")
    assert main(["data", "download", url, str(tmp_path / "a"), "--sha256", "f" * 64]) == 2
    assert f"SHA-256 is {digest}, expected {'f' * 64}" in capsys.readouterr().err
    assert main(["data", "download", url, str(tmp_path / "a"), "--sha256", digest, "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "a" / "food-101")


def test_upload_and_download_blob(
    azurite: str,
    tree: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)
    container = f"cli-{uuid.uuid4().hex[:10]}"
    files = sorted(p for p in tree.rglob("*") if p.is_file())
    assert main(["data", "upload", str(tree), "--container", container, "--prefix", "f"]) == 0
    assert f"uploaded {len(files)} files" in capsys.readouterr().out
    assert main(["data", "upload", str(tree), "--container", container, "--prefix", "f"]) == 0
    assert f"uploaded 0 files (0 bytes), skipped {len(files)}" in capsys.readouterr().out
    back = tmp_path / "back"
    args = ["data", "download-blob", str(back), "--container", container, "--prefix", "f/"]
    assert main(args) == 0
    assert f"downloaded {len(files)} files" in capsys.readouterr().out
    for path in files:
        assert (back / path.relative_to(tree)).read_bytes() == path.read_bytes()


def test_upload_without_credentials_says_how(
    tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    assert main(["data", "upload", str(tree), "--container", "x"]) == 2
    assert "AZURE_STORAGE_CONNECTION_STRING" in capsys.readouterr().err


# -- bad archives and bad credentials: one line, exit 2 (issue 14, items 8-10) ----------


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_download_of_damaged_archives_is_one_line(
    tmp_path: Path, http_server: FileServer, tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.datasets.test_download import lying_zip, truncated

    lying_zip(http_server.root / "lying.zip", declared=50_000)
    (tmp_path / "noise.bin").write_bytes(bytes(range(256)) * 2000)
    with tarfile.open(http_server.root / "cut.tar.gz", "w:gz") as tar:
        tar.add(tree, arcname="food-101")
        tar.add(tmp_path / "noise.bin", arcname="food-101/noise.bin")
    truncated(http_server.root / "cut.tar.gz")
    zip_source = http_server.root / "cut.zip"
    with zipfile.ZipFile(zip_source, "w") as zipped:
        zipped.writestr("food-101/noise.bin", (tmp_path / "noise.bin").read_bytes())
    truncated(zip_source)
    for name, words in [
        ("lying.zip", "the archive is damaged (Bad CRC-32"),
        ("cut.tar.gz", "the archive is damaged"),
        ("cut.zip", "looks like a zip archive but cannot be read"),
    ]:
        dest = tmp_path / name
        code = main(["data", "download", http_server.url_for(name), str(dest), "--quiet"])
        assert (code, words) == (2, words) and words in one_line(capsys.readouterr().err)
        assert sorted(p.name for p in dest.iterdir()) == [name]  # only the download itself


def test_download_limits_are_options(
    tmp_path: Path, http_server: FileServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.datasets.test_download import zeros_zip

    zeros_zip(http_server.root / "bomb.zip", 12_000_000)
    url = http_server.url_for("bomb.zip")
    dest = str(tmp_path / "d")
    assert main(["data", "download", url, dest, "--quiet"]) == 2
    assert "above the limit of 100 (a zip bomb?)" in one_line(capsys.readouterr().err)
    assert (
        main(["data", "download", url, dest, "--quiet", "--max-ratio", "0", "--max-bytes", "1000"])
        == 2
    )
    assert "the limit is 0.001 MB" in one_line(capsys.readouterr().err)
    assert main(["data", "download", url, dest, "--quiet", "--max-ratio", "2000"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "d" / "bomb")


SECRET = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWJlLXByaW50ZWQ="


def test_upload_with_a_malformed_connection_string_is_one_line(
    tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", f"AccountName=food AccountKey={SECRET}")
    assert main(["data", "upload", str(tree), "--container", "x"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("error: AZURE_STORAGE_CONNECTION_STRING is not a valid connection")
    assert "AccountName=<account>;AccountKey=<key>" in line and SECRET not in line


def test_upload_with_a_wrong_key_says_what_to_check(
    azurite: str, tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.azure.test_blob import wrong_key

    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", wrong_key(azurite))
    assert main(["data", "upload", str(tree), "--container", f"k-{uuid.uuid4().hex[:8]}"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "refused the credentials" in line and "check the AccountName and AccountKey" in line
    assert "run the same command again" not in line and wrong_key(azurite) not in line


@pytest.mark.parametrize("terminal", [True, False])
def test_download_shows_progress_on_a_terminal_only(
    tmp_path: Path,
    http_server: FileServer,
    tree: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    terminal: bool,
) -> None:
    import sys

    archive = http_server.root / "food-101.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="food-101")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    url = http_server.url_for("food-101.tar.gz")
    assert main(["data", "download", url, str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    if terminal:
        # gdown's own bar: the byte count of the whole archive, at 100%.
        assert "100%" in err and "Downloading" in err
    else:
        assert err == ""


@pytest.mark.parametrize("terminal", [True, False])
def test_upload_and_download_blob_show_progress_on_a_terminal_only(
    azurite: str,
    tree: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    terminal: bool,
) -> None:
    import sys

    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    container = f"cli-{uuid.uuid4().hex[:10]}"
    count = sum(1 for p in tree.rglob("*") if p.is_file())
    assert main(["data", "upload", str(tree), "--container", container, "--prefix", "f"]) == 0
    uploaded = capsys.readouterr().err
    args = ["data", "download-blob", str(tmp_path / "back"), "--container", container]
    assert main([*args, "--prefix", "f/"]) == 0
    downloaded = capsys.readouterr().err
    if terminal:
        assert uploaded.endswith(f"\ruploading: {count}/{count} files (100%)\n")
        assert downloaded.endswith(f"\rdownloading: {count}/{count} files (100%)\n")
    else:
        assert (uploaded, downloaded) == ("", "")
