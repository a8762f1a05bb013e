"""Downloads from a loopback HTTP server: checksum, resume, clean retry, safe extraction."""

from __future__ import annotations

import hashlib
import io
import random
import re
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest

from food_recognition.datasets import load_dataset
from food_recognition.datasets.download import (
    ArchiveTooLargeError,
    ChecksumError,
    CorruptArchiveError,
    DownloadError,
    UnsafeArchiveError,
    download,
    extract_archive,
)
from tests.fixtures.fake_drive import FakeDrive
from tests.fixtures.http_server import FileServer
from tests.fixtures.images import make_food101


def make_tar_gz(source: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname=source.name)
    return archive


@pytest.fixture
def served_food101(tmp_path: Path, http_server: FileServer) -> tuple[FileServer, str, str]:
    """A Food-101 tree packed as ``food-101.tar.gz`` on the server, and its SHA-256.

    gdown writes 512 KiB chunks, so a 1.5 MB incompressible file makes the
    archive big enough to be interrupted with whole chunks on disk.
    """
    tree = make_food101(tmp_path / "src" / "food-101", size=(64, 48))
    (tree / "noise.bin").write_bytes(random.Random(0).randbytes(1_500_000))
    archive = make_tar_gz(tree, http_server.root / "food-101.tar.gz")
    return http_server, "food-101.tar.gz", hashlib.sha256(archive.read_bytes()).hexdigest()


def full_gets(server: FileServer, name: str) -> int:
    return sum(1 for r in server.requests if r.path == name and r.range is None)


def test_download_verifies_and_extracts(
    tmp_path: Path, served_food101: tuple[FileServer, str, str]
) -> None:
    server, name, digest = served_food101
    dest = tmp_path / "data"
    root = download(server.url_for(name), dest, sha256=digest.upper(), quiet=True)
    assert root == dest / "food-101"
    ds = load_dataset(root)
    assert ds.layout == "food101" and len(ds.test) == 6
    assert (dest / name).is_file()
    assert not list(dest.glob("*.part"))
    # A second run neither downloads nor extracts again.
    (root / "meta" / "marker").write_text("kept")
    assert download(server.url_for(name), dest, sha256=digest, quiet=True) == root
    assert full_gets(server, name) == 1
    assert (root / "meta" / "marker").read_text() == "kept"


def test_checksum_mismatch_names_both_and_removes_the_file(
    tmp_path: Path, served_food101: tuple[FileServer, str, str]
) -> None:
    server, name, digest = served_food101
    wrong = "0" * 64
    with pytest.raises(ChecksumError, match=f"SHA-256 is {digest}, expected {wrong}"):
        download(server.url_for(name), tmp_path / "data", sha256=wrong, quiet=True)
    assert not (tmp_path / "data" / name).exists()
    assert not (tmp_path / "data" / "food-101").exists()


def test_interrupted_download_resumes_with_a_range_request(
    tmp_path: Path, served_food101: tuple[FileServer, str, str]
) -> None:
    server, name, digest = served_food101
    size = (server.root / name).stat().st_size
    server.drop_after[name] = 1_200_000
    dest = tmp_path / "data"
    with pytest.raises(DownloadError, match="incomplete"):
        download(server.url_for(name), dest, sha256=digest, quiet=True, retries=0)
    partials = list(dest.glob(f"{name}*.part"))
    assert len(partials) == 1
    kept = partials[0].stat().st_size
    assert 0 < kept < size
    root = download(server.url_for(name), dest, sha256=digest, quiet=True, retries=0)
    assert root == dest / "food-101"
    assert [r.range for r in server.requests if r.range] == [f"bytes={kept}-"]
    assert hashlib.sha256((dest / name).read_bytes()).hexdigest() == digest


def test_a_dropped_connection_is_resumed_within_one_call(
    tmp_path: Path, served_food101: tuple[FileServer, str, str]
) -> None:
    server, name, digest = served_food101
    server.drop_after[name] = 1_200_000
    root = download(server.url_for(name), tmp_path / "data", sha256=digest, quiet=True, retries=2)
    assert root.name == "food-101"
    ranges = [r.range for r in server.requests if r.range]
    assert len(ranges) == 1 and ranges[0].startswith("bytes=") and ranges[0] != "bytes=0-"


def test_a_server_refusing_ranges_gets_a_clean_retry(
    tmp_path: Path, served_food101: tuple[FileServer, str, str]
) -> None:
    server, name, digest = served_food101
    server.drop_after[name] = 1_200_000
    dest = tmp_path / "data"
    with pytest.raises(DownloadError):
        download(server.url_for(name), dest, quiet=True, retries=0)
    server.ranges = False
    download(server.url_for(name), dest, sha256=digest, quiet=True, retries=0)
    assert hashlib.sha256((dest / name).read_bytes()).hexdigest() == digest
    assert not list(dest.glob("*.part"))


def test_a_missing_file_is_a_download_error(tmp_path: Path, http_server: FileServer) -> None:
    with pytest.raises(DownloadError, match="404"):
        download(http_server.url_for("nope.zip"), tmp_path, quiet=True, retries=0)


def test_source_must_be_a_url_or_a_drive_id(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neither an http"):
        download("ftp://example.com/x.zip", tmp_path)


def test_a_plain_file_is_returned_as_is(tmp_path: Path, http_server: FileServer) -> None:
    (http_server.root / "classes.txt").write_text("apple_pie\n")
    path = download(http_server.url_for("classes.txt"), tmp_path / "d", quiet=True)
    assert path == tmp_path / "d" / "classes.txt" and path.read_text() == "apple_pie\n"


# -- Google Drive, through the real gdown against a fake Drive on loopback -------------

DRIVE_ID = "1AbCdEfGhIjKlMnOpQrStUvWxYz012345"


@pytest.mark.parametrize(
    "source", [DRIVE_ID, f"https://drive.google.com/file/d/{DRIVE_ID}/view?usp=sharing"]
)
def test_a_drive_file_is_fetched_through_the_virus_scan_page(
    tmp_path: Path,
    served_food101: tuple[FileServer, str, str],
    fake_drive: FakeDrive,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    server, name, digest = served_food101
    fake_drive.files[DRIVE_ID] = (name, (server.root / name).read_bytes())
    fake_drive.route(monkeypatch)
    root = download(source, tmp_path / "data", sha256=digest, quiet=True)
    assert root == tmp_path / "data" / "food-101"  # named by Drive's Content-Disposition
    assert load_dataset(root).layout == "food101"
    hosts = [host for host, _ in fake_drive.requests]
    assert hosts == ["drive.google.com", *["drive.usercontent.google.com"] * 2]
    assert "confirm=t" in fake_drive.requests[-1][1]  # the token from the warning page
    # A second run knows Drive's name for the file: no request, no extraction.
    (root / "meta" / "marker").write_text("kept")
    assert download(source, tmp_path / "data", sha256=digest, quiet=True) == root
    assert len(fake_drive.requests) == 3 and (root / "meta" / "marker").read_text() == "kept"


def test_an_interrupted_drive_download_resumes_where_it_stopped(
    tmp_path: Path,
    served_food101: tuple[FileServer, str, str],
    fake_drive: FakeDrive,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, name, digest = served_food101
    data = (server.root / name).read_bytes()
    fake_drive.files[DRIVE_ID] = (name, data)
    fake_drive.drop_after[DRIVE_ID] = 1_200_000
    fake_drive.route(monkeypatch)
    dest = tmp_path / "data"
    with pytest.raises(DownloadError, match="incomplete"):
        download(DRIVE_ID, dest, sha256=digest, quiet=True, retries=0)
    [partial] = dest.glob("*.part")
    kept = partial.stat().st_size
    assert 0 < kept < len(data)

    root = download(DRIVE_ID, dest, sha256=digest, quiet=True, retries=0)
    assert root == dest / "food-101"
    # gdown learns the name from a first response, then asks for the rest.
    assert fake_drive.ranges[0] is None and fake_drive.ranges[-1] == f"bytes={kept}-"
    assert not list(dest.glob("*.part"))


def test_a_drive_error_page_is_a_download_error_with_drive_s_reason(
    tmp_path: Path, fake_drive: FakeDrive, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_drive.files[DRIVE_ID] = ("food-101.tar.gz", b"")
    fake_drive.errors[DRIVE_ID] = "Too many users have viewed or downloaded this file recently."
    fake_drive.route(monkeypatch)
    with pytest.raises(DownloadError, match="Too many users") as error:
        download(DRIVE_ID, tmp_path / "data", quiet=True, retries=0)
    assert DRIVE_ID in str(error.value)
    assert not list((tmp_path / "data").iterdir())


# -- extraction refuses entries escaping the target ------------------------------------


def zip_with(archive: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(archive, "w") as zipped:
        for name, data in entries.items():
            zipped.writestr(name, data)
    return archive


def tar_with(archive: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        for member in members:
            data = b"x" * member.size
            tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return archive


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.linkname = link
    member.size = 1 if kind == tarfile.REGTYPE else 0
    return member


@pytest.mark.parametrize(
    ("entry", "problem"),
    [("../evil.txt", "climbs out with '..'"), ("/tmp/evil.txt", "an absolute path")],
)
def test_zip_slip_is_refused(tmp_path: Path, entry: str, problem: str) -> None:
    archive = zip_with(tmp_path / "bad.zip", {"data/ok.txt": b"fine", entry: b"pwned"})
    dest = tmp_path / "out" / "inner"
    with pytest.raises(
        UnsafeArchiveError, match=re.escape(f"entry '{entry}' is ") + f".*{problem}"
    ):
        extract_archive(archive, dest)
    assert not (tmp_path / "out" / "evil.txt").exists()
    assert not (dest / "data").exists()  # nothing at all was written


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (tar_member("a/../../evil.txt"), "climbs out"),
        (tar_member("/etc/evil.txt"), "an absolute path"),
        (tar_member("data/link", tarfile.SYMTYPE, "../../etc/passwd"), "is a symlink to"),
        (tar_member("data/link", tarfile.SYMTYPE, "/etc/passwd"), "is a symlink to"),
        (tar_member("data/hard", tarfile.LNKTYPE, "../outside"), "is a hard link to"),
        (tar_member("data/fifo", tarfile.FIFOTYPE), "is a device or FIFO"),
    ],
    ids=["dotdot", "absolute", "symlink-out", "symlink-absolute", "hardlink-out", "fifo"],
)
def test_tar_escapes_are_refused(tmp_path: Path, member: tarfile.TarInfo, message: str) -> None:
    archive = tar_with(tmp_path / "bad.tar.gz", [tar_member("data/ok.txt"), member])
    dest = tmp_path / "out" / "inner"
    with pytest.raises(
        UnsafeArchiveError, match=re.escape(f"entry '{member.name}' ") + f".*{message}"
    ):
        extract_archive(archive, dest)
    assert not (dest / "data").exists()


def test_a_symlink_inside_the_target_is_fine(tmp_path: Path) -> None:
    archive = tar_with(
        tmp_path / "ok.tar.gz",
        [tar_member("data/ok.txt"), tar_member("data/alias.txt", tarfile.SYMTYPE, "ok.txt")],
    )
    assert extract_archive(archive, tmp_path / "out") == tmp_path / "out" / "data"
    assert (tmp_path / "out" / "data" / "alias.txt").read_bytes() == b"x"


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_an_archive_bigger_than_the_limit_is_not_extracted(tmp_path: Path, kind: str) -> None:
    # A bomb in miniature: 3 MB of zeros compress to a few kilobytes.
    entries = {"data/zeros.bin": bytes(2_000_000), "data/more.bin": bytes(1_000_000)}
    archive = tmp_path / f"bomb.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for name, data in entries.items():
                zipped.writestr(name, data)
    else:
        with tarfile.open(archive, "w:gz") as tar:
            for name, data in entries.items():
                member = tarfile.TarInfo(name)
                member.size = len(data)
                tar.addfile(member, io.BytesIO(data))
    assert archive.stat().st_size < 50_000
    dest = tmp_path / "out"
    with pytest.raises(
        ArchiveTooLargeError, match=re.escape("add up to 3 MB extracted, but the limit is 2.9 MB")
    ):
        extract_archive(archive, dest, max_bytes=2_900_000)
    assert not (dest / "data").exists()
    assert extract_archive(archive, dest, max_bytes=3_000_000) == dest / "data"
    assert (dest / "data" / "zeros.bin").stat().st_size == 2_000_000


# -- damaged archives and bombs (issue 14, items 8-9) ---------------------------------


def lying_zip(archive: Path, declared: int) -> Path:
    """A zip whose ``pkg/a.bin`` holds 100 kB but whose headers declare ``declared`` bytes."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("pkg/b.txt", b"new")
        zipped.writestr("pkg/a.bin", random.Random(1).randbytes(100_000))
    raw = bytearray(archive.read_bytes())
    local = raw.find(b"PK\x03\x04", raw.find(b"pkg/a.bin") - 40)
    central = raw.find(b"PK\x01\x02", raw.find(b"PK\x01\x02") + 1)  # a.bin's entry
    struct.pack_into("<I", raw, local + 22, declared)  # local header: uncompressed size
    struct.pack_into("<I", raw, central + 24, declared)  # central directory: the same
    archive.write_bytes(bytes(raw))
    return archive


def test_a_zip_entry_longer_than_declared_leaves_the_target_as_it_was(tmp_path: Path) -> None:
    archive = lying_zip(tmp_path / "lying.zip", declared=50_000)
    dest = tmp_path / "out"
    (dest / "pkg").mkdir(parents=True)
    (dest / "pkg" / "b.txt").write_text("old")
    with pytest.raises(CorruptArchiveError, match=r"lying\.zip: the archive is damaged \(Bad CRC"):
        extract_archive(archive, dest)
    assert not (dest / "pkg" / "a.bin").exists()  # no partial file
    assert (dest / "pkg" / "b.txt").read_text() == "old"  # nothing replaced
    assert sorted(p.name for p in dest.iterdir()) == ["pkg"]  # no staging folder left


def test_an_encrypted_zip_is_refused_in_one_line(tmp_path: Path) -> None:
    archive = zip_with(tmp_path / "locked.zip", {"pkg/a.txt": b"secret"})
    raw = bytearray(archive.read_bytes())
    # Set the "encrypted" flag (bit 0 of the general purpose flags) in both headers.
    raw[raw.find(b"PK\x03\x04") + 6] |= 1
    raw[raw.find(b"PK\x01\x02") + 8] |= 1
    archive.write_bytes(bytes(raw))
    with pytest.raises(
        CorruptArchiveError, match=r"locked\.zip: cannot be extracted here \(.*encrypted"
    ):
        extract_archive(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_good_archive_merges_into_an_existing_folder(tmp_path: Path) -> None:
    archive = zip_with(tmp_path / "ok.zip", {"pkg/b.txt": b"new", "pkg/c.txt": b"c"})
    dest = tmp_path / "out"
    (dest / ".ok.zip.staging-killed" / "pkg").mkdir(parents=True)  # a killed run's leftovers
    (dest / "pkg").mkdir(parents=True)
    (dest / "pkg" / "b.txt").write_text("old")
    (dest / "pkg" / "mine.txt").write_text("kept")
    assert extract_archive(archive, dest) == dest / "pkg"
    assert (dest / "pkg" / "b.txt").read_text() == "new"
    assert (dest / "pkg" / "mine.txt").read_text() == "kept"
    assert sorted(p.name for p in dest.iterdir()) == [".ok.zip.extracted", "pkg"]


def truncated(archive: Path) -> Path:
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    return archive


def test_a_truncated_tar_gz_is_a_corrupt_archive(tmp_path: Path) -> None:
    tree = make_food101(tmp_path / "src" / "food-101", size=(64, 48))
    (tree / "noise.bin").write_bytes(random.Random(0).randbytes(300_000))
    archive = truncated(make_tar_gz(tree, tmp_path / "food-101.tar.gz"))
    with pytest.raises(CorruptArchiveError, match=r"damaged.*download it again"):
        extract_archive(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("name", ["food-101.zip", "food-101.bin"])
def test_a_truncated_zip_download_is_refused_not_kept_as_a_plain_file(
    tmp_path: Path, http_server: FileServer, name: str
) -> None:
    archive = zip_with(
        http_server.root / name, {"food-101/a.bin": random.Random(2).randbytes(50_000)}
    )
    truncated(archive)
    with pytest.raises(CorruptArchiveError, match="looks like a zip archive but cannot be read"):
        download(http_server.url_for(name), tmp_path / "d", quiet=True)
    assert not (tmp_path / "d" / "food-101").exists()


def test_a_plain_file_named_like_an_archive_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "food-101.tar.gz"
    page.write_text("<html>quota exceeded</html>")
    with pytest.raises(CorruptArchiveError, match="looks like a tar archive"):
        extract_archive(page, tmp_path / "out")


def zeros_zip(archive: Path, size: int) -> Path:
    with (
        zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped,
        zipped.open("bomb/zeros.bin", "w") as handle,
    ):
        for _ in range(size // 1_000_000):
            handle.write(bytes(1_000_000))
    return archive


def test_a_zip_bomb_is_refused_by_its_compression_ratio(tmp_path: Path) -> None:
    archive = zeros_zip(tmp_path / "bomb.zip", 20_000_000)  # about 20 kB on disk
    dest = tmp_path / "out"
    with pytest.raises(ArchiveTooLargeError) as info:
        extract_archive(archive, dest, max_bytes=10**12)
    message = str(info.value)
    assert "would extract to 20 MB" in message and "above the limit of 100" in message
    assert "--max-ratio" in message and "max_ratio=" in message
    assert list(dest.iterdir()) == []
    # The limit is the caller's to raise.
    assert extract_archive(archive, dest, max_ratio=None) == dest / "bomb"
    assert (dest / "bomb" / "zeros.bin").stat().st_size == 20_000_000


def test_download_passes_the_limits_on(tmp_path: Path, http_server: FileServer) -> None:
    zeros_zip(http_server.root / "bomb.zip", 12_000_000)
    url = http_server.url_for("bomb.zip")
    with pytest.raises(ArchiveTooLargeError, match="the limit is 1 MB"):
        download(url, tmp_path / "d", quiet=True, max_bytes=1_000_000, max_ratio=None)
    with pytest.raises(ArchiveTooLargeError, match="above the limit of 100"):
        download(url, tmp_path / "d", quiet=True)
    assert download(url, tmp_path / "d", quiet=True, max_ratio=10_000) == tmp_path / "d" / "bomb"
