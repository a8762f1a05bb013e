"""Downloading a data set: a Google Drive id or any URL, checked and safely extracted.

>>> from food_recognition.datasets.download import download
>>> root = download("https://data.vision.ee.ethz.ch/cvl/food-101.tar.gz", "data")  # doctest: +SKIP
>>> root  # doctest: +SKIP
PosixPath('data/food-101')

Transfers go through `gdown <https://github.com/wkentaro/gdown>`_, which
follows Google Drive's confirmation pages for large files and, for any URL,
shows progress and resumes an interrupted transfer with an HTTP ``Range``
request (a ``<name><random>.part`` file next to the target holds the bytes so
far; ``If-Range`` makes sure a changed remote file is not spliced onto old
bytes). A server that refuses the range gets a clean retry from the first byte.

An optional SHA-256 is verified; a mismatch removes the file and names both
digests. Archives (zip, tar, tar.gz, tar.bz2, tar.xz) are extracted only after
every entry has been checked: an absolute path, a ``..`` that climbs out of
the target folder, a link pointing outside it, or a device file stops the
extraction before anything is written, with the entry named. So does an
archive that would extract to more than the disk's free space (or
``max_bytes``), or to more than :data:`DEFAULT_MAX_RATIO` times its own size
(a zip bomb; ``max_ratio`` raises the limit).

Extraction writes into a hidden staging folder inside the target and moves
the files into place only when every entry came out whole, so a damaged
archive (truncated, or a zip entry longer than its header says) leaves the
target as it was and raises :class:`CorruptArchiveError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path
from urllib.parse import unquote, urlparse

from food_recognition.errors import DataError

__all__ = [
    "DEFAULT_MAX_RATIO",
    "RATIO_FLOOR_BYTES",
    "ArchiveTooLargeError",
    "ChecksumError",
    "CorruptArchiveError",
    "DownloadError",
    "SourceError",
    "UnsafeArchiveError",
    "download",
    "extract_archive",
    "sha256_of",
]

_DRIVE_ID = re.compile(r"[A-Za-z0-9_-]{20,}")


#: In the download folder: Drive URL -> the file name Drive gave it (JSON).
DOWNLOADS_RECORD = ".drive-downloads.json"


#: The most an archive may extract to, as a multiple of its own size. Photos
#: and most data compress by 1-10x; deflate's best on zeros is about 1,000x.
DEFAULT_MAX_RATIO = 100.0

#: Archives that extract to less than this are not held to a ratio (a few
#: megabytes of zeros harm no one).
RATIO_FLOOR_BYTES = 10_000_000

_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz")


class DownloadError(DataError):
    """A download that could not finish; the message says why and what to try."""


class SourceError(DownloadError, ValueError):
    """The source is neither an http(s) URL nor a Google Drive file id."""


class ChecksumError(DownloadError):
    """The downloaded file's SHA-256 is not the expected one (the file was removed)."""


class UnsafeArchiveError(DownloadError, ValueError):
    """An archive entry would land outside the target folder; nothing was extracted."""


class ArchiveTooLargeError(DownloadError, ValueError):
    """An archive's files add up to more than the disk (or the limit) can take, or to
    more than ``max_ratio`` times the archive's size; nothing was extracted."""


class CorruptArchiveError(DownloadError, ValueError):
    """An archive that cannot be read whole (truncated, or lying about an entry's size);
    nothing was extracted."""


def download(
    source: str,
    dest_dir: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    extract: bool = True,
    quiet: bool = False,
    retries: int = 3,
    max_bytes: int | None = None,
    max_ratio: float | None = DEFAULT_MAX_RATIO,
) -> Path:
    """Download ``source`` into ``dest_dir``, verify it, and extract it if it is an archive.

    Running it again is cheap: a finished file is not downloaded again, and an
    archive already extracted (same size and modification time) is not
    extracted again.

    :param source: an ``http(s)://`` URL (Google Drive links included) or a
        Google Drive file id.
    :param dest_dir: the folder to download (and extract) into; created if needed.
    :param sha256: the expected SHA-256 of the file, hex; ``None`` skips the check.
    :param extract: extract zip and tar archives.
    :param quiet: no progress bar.
    :param retries: reconnects (resuming) after a dropped transfer.
    :param max_bytes: passed to :func:`extract_archive`.
    :param max_ratio: passed to :func:`extract_archive`.
    :returns: the extracted folder (the archive's single top-level folder when it
        has one, else ``dest_dir``), or the downloaded file when it is not an
        archive or ``extract`` is false.
    :raises DownloadError: the transfer failed (a partial file is kept for resuming).
    :raises ChecksumError: the SHA-256 does not match.
    :raises UnsafeArchiveError: an archive entry would escape ``dest_dir``.
    :raises ArchiveTooLargeError: the archive would extract to too much.
    :raises CorruptArchiveError: the file looks like an archive but cannot be read whole.
    :raises SourceError: ``source`` is neither a URL nor a Drive id.
    """
    import gdown
    import requests

    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    url, filename = _resolve(source)
    downloads = dest / DOWNLOADS_RECORD
    if filename is None:  # Drive: the name it gave last time, so a rerun is cheap too
        recorded = (_read_marker(downloads) or {}).get(url)
        filename = recorded if isinstance(recorded, str) else None
    # Drive names the file in its response; other URLs by their last path segment.
    output = str(dest / filename) if filename else str(dest) + os.sep
    if filename and (dest / filename).is_file():
        result: object = output  # finished earlier: gdown would still open a request
        attempts: list[bool] = []
    else:
        attempts = [True, False]  # resume first; then once from scratch
    for resume in attempts:
        try:
            result = gdown.download(
                url=url,
                output=output,
                quiet=quiet,
                resume=resume,
                retries=retries,
                use_cookies=filename is None,
            )
            break
        except gdown.exceptions.DownloadError as error:
            if resume and "did not honor the requested byte range" in str(error):
                _remove_partials(dest, filename)
                continue
            raise DownloadError(f"{source}: {error}") from error
        except (gdown.exceptions.FileURLRetrievalError, requests.RequestException) as error:
            raise DownloadError(f"{source}: {error}") from error
    if not isinstance(result, str):
        raise DownloadError(f"{source}: gdown returned no file")
    path = Path(result)
    if sha256 is not None:
        actual = sha256_of(path)
        if actual.lower() != sha256.strip().lower():
            path.unlink()
            raise ChecksumError(
                f"{path}: SHA-256 is {actual}, expected {sha256.strip().lower()}; the file was "
                "removed. Download it again, or check the expected value"
            )
    if filename is None:
        record = _read_marker(downloads) or {}
        downloads.write_text(json.dumps({**record, url: path.name}, indent=1), encoding="utf-8")
    if extract and _archive_kind(path) is not None:
        return extract_archive(path, dest, max_bytes=max_bytes, max_ratio=max_ratio)
    return path


def extract_archive(
    archive: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    *,
    max_bytes: int | None = None,
    max_ratio: float | None = DEFAULT_MAX_RATIO,
) -> Path:
    """Extract a zip or tar archive into ``dest_dir`` after checking every entry.

    The files are written to a staging folder inside ``dest_dir`` and moved into
    place only once all of them came out whole; an archive that fails midway
    leaves ``dest_dir`` as it was.

    :param archive: the ``.zip``, ``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.bz2`` or ``.tar.xz`` file.
    :param dest_dir: the folder to extract into.
    :param max_bytes: the most its files may add up to, extracted; ``None``: the
        free space of the disk holding ``dest_dir``.
    :param max_ratio: the most its files may add up to as a multiple of the
        archive's size (checked once they pass :data:`RATIO_FLOOR_BYTES`);
        ``None`` turns the check off.
    :returns: the archive's single top-level folder inside ``dest_dir`` when it
        has exactly one, else ``dest_dir``.
    :raises UnsafeArchiveError: an entry with an absolute path, one that climbs out
        with ``..``, a link pointing outside ``dest_dir``, or a device file; the
        message names the entry, and nothing was extracted.
    :raises ArchiveTooLargeError: its files add up to more than ``max_bytes``
        (a zip bomb, or a full disk) or to more than ``max_ratio`` times the
        archive; nothing was extracted.
    :raises CorruptArchiveError: not a zip or tar archive, or one that cannot be
        read whole (truncated, an entry larger than declared); nothing was extracted.
    :raises DownloadError: the files could not be written (a full disk).
    """
    path = Path(archive)
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    stat = path.stat()
    marker = dest / f".{path.name}.extracted"
    stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
    done = _read_marker(marker)
    if done is not None and done.get("stamp") == stamp:
        return dest / str(done["top"]) if done.get("top") else dest
    kind = _archive_kind(path)
    if kind is None:
        raise CorruptArchiveError(f"{path}: not a zip or tar archive; nothing was extracted")
    staging_prefix = f".{path.name}.staging-"
    for stale in dest.glob(f"{glob_escape(staging_prefix)}*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a run that was killed midway
    try:
        with tempfile.TemporaryDirectory(prefix=staging_prefix, dir=dest) as staging:
            if kind == "zip":
                names = _extract_zip(path, dest, Path(staging), max_bytes, max_ratio)
            else:
                names = _extract_tar(path, dest, Path(staging), max_bytes, max_ratio)
            _move_into(Path(staging), dest)
    except (zipfile.BadZipFile, tarfile.ReadError, EOFError, zlib.error) as error:
        raise _corrupt(path, error) from error
    except (NotImplementedError, RuntimeError) as error:  # zipfile: encrypted, or deflate64
        raise CorruptArchiveError(
            f"{path}: cannot be extracted here ({_first_line(error)}); nothing was extracted. "
            "Extract it with a tool that supports it"
        ) from error
    except OSError as error:
        if error.errno is None:  # bz2/lzma/gzip say "invalid data" as an OSError
            raise _corrupt(path, error) from error
        raise DownloadError(
            f"{path}: extraction failed: {error.strerror}; nothing was extracted"
        ) from error
    top = _single_top(names)
    marker.write_text(json.dumps({"stamp": stamp, "top": top}), encoding="utf-8")
    return dest / top if top else dest


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file, hex.

    :param path: the file.
    :returns: 64 hex digits.
    """
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- helpers --------------------------------------------------------------------


def _resolve(source: str) -> tuple[str, str | None]:
    """The URL to fetch and the file name to save as (``None``: Drive decides)."""
    text = source.strip()
    if text.startswith(("http://", "https://")):
        parsed = urlparse(text)
        if parsed.hostname and parsed.hostname.endswith(("drive.google.com", "docs.google.com")):
            return text, None
        name = Path(unquote(parsed.path)).name
        return text, name or "download"
    if _DRIVE_ID.fullmatch(text):
        return f"https://drive.google.com/uc?id={text}", None
    raise SourceError(
        f"{source!r} is neither an http(s):// URL nor a Google Drive file id "
        "(the long id in a drive.google.com/file/d/<id>/view link)"
    )


def _remove_partials(dest: Path, filename: str | None) -> None:
    if filename is None:
        return
    for partial in dest.glob(f"{glob_escape(filename)}????????.part"):
        partial.unlink()


def glob_escape(text: str) -> str:
    """``text`` with glob wildcards escaped."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def _archive_kind(path: Path) -> str | None:
    """``"zip"``, ``"tar"``, or ``None`` for a file that is no archive.

    A file named like an archive (or starting like a zip) that neither reader
    accepts is a truncated or damaged download, not a plain file.

    :raises CorruptArchiveError: it looks like an archive but cannot be read.
    """
    try:
        if zipfile.is_zipfile(path):
            return "zip"
        if tarfile.is_tarfile(path):
            return "tar"
    except (EOFError, OSError, zlib.error):
        pass  # a stream that ends early: decided by its name and first bytes below
    with path.open("rb") as handle:
        head = handle.read(4)
    name = path.name.lower()
    if head == b"PK\x03\x04" or name.endswith(".zip"):
        kind = "zip"
    elif name.endswith(_TAR_SUFFIXES):
        kind = "tar"
    else:
        return None
    raise CorruptArchiveError(
        f"{path}: looks like a {kind} archive but cannot be read (truncated, or not an "
        "archive at all); nothing was extracted. Delete it and download it again"
    )


def _extract_zip(
    path: Path, dest: Path, staging: Path, max_bytes: int | None, max_ratio: float | None
) -> list[str]:
    with zipfile.ZipFile(path) as zipped:
        infos = zipped.infolist()
        names = [info.filename for info in infos]
        for name in names:
            _check_name(path, name)
        # zipfile never writes more than an entry's declared size: an entry whose
        # data runs longer fails its CRC check (BadZipFile) in the staging folder.
        total = sum(i.file_size for i in infos)
        _check_size(path, dest, total, max_bytes)
        _check_ratio(path, total, max_ratio)
        zipped.extractall(staging)
    return names


def _extract_tar(
    path: Path, dest: Path, staging: Path, max_bytes: int | None, max_ratio: float | None
) -> list[str]:
    with tarfile.open(path) as tarred:
        members = tarred.getmembers()  # reads the whole stream: a truncated one fails here
        for member in members:
            _check_tar_member(path, member)
        total = sum(m.size for m in members if m.isfile())
        _check_size(path, dest, total, max_bytes)
        _check_ratio(path, total, max_ratio)
        try:
            # The "data" filter also drops set-uid bits and odd permissions.
            tarred.extractall(staging, filter="data")
        except tarfile.FilterError as error:
            raise UnsafeArchiveError(f"{path}: {error}; nothing was extracted") from error
    return [member.name for member in members]


def _move_into(staging: Path, dest: Path) -> None:
    """Move a staged tree into ``dest``: folders merge, files replace their old copies.

    A file where the tree has a folder (or the reverse) stops the move before
    anything moves, so nothing in ``dest`` is lost.
    """
    clash = _first_clash(staging, dest)
    if clash is not None:
        raise DownloadError(
            f"{clash}: the archive has a file where this is a folder, or a folder where this "
            "is a file; move it away and extract again (nothing was extracted)"
        )
    _merge(staging, dest)


def _first_clash(staging: Path, dest: Path) -> Path | None:
    for source in staging.iterdir():
        target = dest / source.name
        source_dir = source.is_dir() and not source.is_symlink()
        if not target.exists() and not target.is_symlink():
            continue
        target_dir = target.is_dir() and not target.is_symlink()
        if source_dir != target_dir:
            return target
        if source_dir:
            clash = _first_clash(source, target)
            if clash is not None:
                return clash
    return None


def _merge(staging: Path, dest: Path) -> None:
    for source in sorted(staging.iterdir()):
        target = dest / source.name
        if source.is_dir() and not source.is_symlink() and target.is_dir():
            _merge(source, target)
        else:
            source.replace(target)


def _corrupt(path: Path, error: BaseException) -> CorruptArchiveError:
    return CorruptArchiveError(
        f"{path}: the archive is damaged ({_first_line(error)}); nothing was extracted. "
        "Delete it and download it again"
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _check_ratio(archive: Path, total: int, max_ratio: float | None) -> None:
    size = max(archive.stat().st_size, 1)
    if max_ratio is None or total <= RATIO_FLOOR_BYTES or total <= max_ratio * size:
        return
    raise ArchiveTooLargeError(
        f"{archive}: its {_gb(size)} would extract to {_gb(total)}, {total / size:,.0f} times "
        f"its size, above the limit of {max_ratio:g} (a zip bomb?); nothing was written. If "
        "you trust it, raise the limit: --max-ratio N on the command line, max_ratio=N in "
        "Python (0 or None: no limit)"
    )


def _read_marker(marker: Path) -> dict[str, object] | None:
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _escapes(name: str) -> str | None:
    """Why ``name`` (an archive path) would land outside the target, or ``None``."""
    text = name.replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        return "an absolute path"
    normal = posixpath.normpath(text)
    if normal == ".." or normal.startswith("../"):
        return "a path that climbs out with '..'"
    return None


def _check_name(archive: Path, name: str) -> None:
    problem = _escapes(name)
    if problem is not None:
        raise UnsafeArchiveError(
            f"{archive}: entry {name!r} is {problem}, outside the target folder; refusing to "
            "extract this archive (nothing was written)"
        )


def _check_size(archive: Path, dest: Path, total: int, max_bytes: int | None) -> None:
    limit = shutil.disk_usage(dest).free if max_bytes is None else max_bytes
    if total > limit:
        where = (
            f"{dest} has {_gb(limit)} free" if max_bytes is None else f"the limit is {_gb(limit)}"
        )
        raise ArchiveTooLargeError(
            f"{archive}: its files add up to {_gb(total)} extracted, but {where}; free some "
            "space, extract it elsewhere, or raise the limit (--max-bytes N, max_bytes=N) "
            "(nothing was written)"
        )


def _gb(size: int) -> str:
    return f"{size / 1e9:.3g} GB" if size >= 1e8 else f"{size / 1e6:.3g} MB"


def _check_tar_member(archive: Path, member: tarfile.TarInfo) -> None:
    _check_name(archive, member.name)
    if member.issym() or member.islnk():
        kind = "symlink" if member.issym() else "hard link"
        target = member.linkname.replace("\\", "/")
        # A symlink is relative to its own folder; a hard link to the archive root.
        joined = (
            posixpath.join(posixpath.dirname(member.name), target) if member.issym() else target
        )
        problem = _escapes(target if target.startswith("/") else joined)
        if problem is not None:
            raise UnsafeArchiveError(
                f"{archive}: entry {member.name!r} is a {kind} to {member.linkname!r}, outside "
                "the target folder; refusing to extract this archive (nothing was written)"
            )
    elif not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(
            f"{archive}: entry {member.name!r} is a device or FIFO, not a file; refusing to "
            "extract this archive (nothing was written)"
        )


def _single_top(names: list[str]) -> str | None:
    tops = set()
    nested = False
    for name in names:
        parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
        if parts:
            tops.add(parts[0])
            nested = nested or len(parts) > 1
    return tops.pop() if len(tops) == 1 and nested else None
