"""Plugins travel with the run: a plugin's distribution copied into a code folder.

A job's code snapshot (:func:`food_recognition.compute.write_snapshot`) and a
deployment's code folder (:func:`food_recognition.azure.deploy.stage_code`)
are the working folder of the process that runs there, which Python puts on
``sys.path``. :func:`bundle` puts each plugin distribution a run needs into
that folder twice:

- unpacked at the folder's top, modules and ``.dist-info`` (with its entry
  points) side by side, exactly as a wheel installs into ``site-packages``:
  importable and found by the plugin manager from the working folder, on
  Azure ML and on the ``local`` target alike, without installing anything;
- as a wheel in ``plugins/`` (a record, and what ``pip install`` takes to
  install it into an environment by hand).

A distribution installed in editable mode (``pip install -e``) is built into
a wheel from its source folder first (``uv build`` or ``pip wheel``).

The wheels are reproducible: the same installed files give the same bytes
(fixed timestamps and order; ``SOURCE_DATE_EPOCH`` for a build), so their
SHA-256, which the Azure ML environment pins
(:mod:`food_recognition.azure.environment.context`), and the environment
built from them stay the same from one submit to the next.

A distribution the user says is published on an index (``from_index``) is
not copied: it is only named in ``plugins.json`` (``"index": true``), and the
environment installs it by its requirement.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlparse

from food_recognition.errors import PluginError
from food_recognition.plugins.resolve import PluginDistribution

__all__ = [
    "PLUGINS_DIR",
    "PLUGINS_FILE",
    "PluginBundleError",
    "bundle",
    "check_from_index",
    "index_distributions",
    "read_plugins_file",
]

#: The folder of a code snapshot holding the plugin wheels.
PLUGINS_DIR = "plugins"

#: The file (in a code snapshot and in a model package) listing the plugin
#: distributions: ``{"distributions": [{"name": ..., "version": ...}]}`` (a
#: distribution published on an index also has ``"index": true``).
PLUGINS_FILE = "plugins.json"

# What an installer adds to a .dist-info (PEP 376 INSTALLER and REQUESTED, PEP 610
# direct_url.json, which holds the local source path): a wheel never carries them.
_INSTALLER_FILES = frozenset({"INSTALLER", "REQUESTED", "direct_url.json"})

# A wheel's entries get this timestamp (the earliest a zip file can hold), so
# repacking the same files gives the same bytes.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# The same, as seconds since 1970, for a build backend (hatchling, setuptools
# and flit honour SOURCE_DATE_EPOCH: https://reproducible-builds.org/specs/source-date-epoch/).
_SOURCE_DATE_EPOCH = "315532800"


class PluginBundleError(PluginError):
    """A plugin distribution the run needs cannot be copied into its code folder."""


def bundle(
    distributions: Iterable[PluginDistribution],
    dest: str | Path,
    *,
    from_index: Iterable[str] = (),
) -> list[Path]:
    """Copy each distribution into ``dest`` (unpacked) and its wheel into ``dest/plugins``.

    Also writes ``dest/plugins.json`` naming them.

    :param distributions: what the run needs (the ``distributions`` of a
        :class:`~food_recognition.plugins.resolve.ResolvedRun`).
    :param dest: the code folder.
    :param from_index: names of distributions published on a package index:
        they are named in ``plugins.json`` but not copied (the environment
        installs them from the index).
    :returns: the wheels written.
    :raises PluginBundleError: a distribution is not installed, or an editable
        one cannot be built; a ``from_index`` name is not among ``distributions``.
    """
    dest = Path(dest)
    wanted = list(distributions)
    published = check_from_index(wanted, from_index)
    wheels = []
    for wanted_dist in wanted:
        if _normalise(wanted_dist.name) in published:
            continue
        wheel = _wheel_of(wanted_dist, dest / PLUGINS_DIR)
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                target = (dest / member).resolve()
                if dest.resolve() not in target.parents:
                    raise PluginBundleError(f"{wheel.name}: unsafe path {member!r}")
            archive.extractall(dest)
        wheels.append(wheel)
    data = {
        "distributions": [
            {**d.to_dict(), "index": True} if _normalise(d.name) in published else d.to_dict()
            for d in wanted
        ]
    }
    (dest / PLUGINS_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return wheels


def read_plugins_file(folder: str | Path) -> tuple[PluginDistribution, ...]:
    """The distributions ``folder/plugins.json`` names; empty when there is none.

    :raises PluginError: the file is not what :func:`bundle` writes.
    """
    path = Path(folder) / PLUGINS_FILE
    if not path.is_file():
        return ()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return tuple(
            PluginDistribution(str(d["name"]), str(d["version"])) for d in data["distributions"]
        )
    except (ValueError, KeyError, TypeError) as error:
        raise PluginError(
            f"{path}: expected {{'distributions': [{{'name': ..., 'version': ...}}]}}: {error}"
        ) from error


def index_distributions(folder: str | Path) -> frozenset[str]:
    """The names (normalised) of the distributions ``folder/plugins.json`` marks as published.

    :raises PluginError: the file is not what :func:`bundle` writes.
    """
    path = Path(folder) / PLUGINS_FILE
    if not path.is_file():
        return frozenset()
    read_plugins_file(folder)
    data = json.loads(path.read_text(encoding="utf-8"))
    return frozenset(_normalise(str(d["name"])) for d in data["distributions"] if d.get("index"))


def _normalise(name: str) -> str:
    # PEP 503 normalisation: pip and importlib.metadata compare names this way.
    return "".join("-" if c in "-_." else c for c in name.lower())


def check_from_index(wanted: Iterable[PluginDistribution], from_index: Iterable[str]) -> set[str]:
    """Check that each name the user says is published is a distribution the run uses.

    :param wanted: the run's plugin distributions.
    :param from_index: the names given (``--plugin-from-index``).
    :returns: the names, normalised.
    :raises PluginBundleError: a name the run does not use (a typo would
        otherwise carry the plugin as a wheel without a word).
    """
    wanted = list(wanted)
    names = {_normalise(d.name) for d in wanted}
    published = {_normalise(name) for name in from_index}
    unknown = sorted(published - names)
    if unknown:
        used = ", ".join(d.name for d in wanted) or "none"
        raise PluginBundleError(
            f"--plugin-from-index {unknown[0]}: the run uses no plugin distribution of that "
            f"name (it uses: {used})"
        )
    return published


def _wheel_of(wanted: PluginDistribution, out: Path) -> Path:
    try:
        dist = importlib.metadata.distribution(wanted.name)
    except importlib.metadata.PackageNotFoundError:
        raise PluginBundleError(
            f"plugin distribution {wanted.name!r} is not installed here; "
            f"pip install {wanted.requirement}"
        ) from None
    out.mkdir(parents=True, exist_ok=True)
    source = _editable_source(dist)
    if source is not None:
        return _build_wheel(wanted, source, out)
    return _repack(dist, wanted, out)


def _editable_source(dist: importlib.metadata.Distribution) -> Path | None:
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    data = json.loads(text)
    if not data.get("dir_info", {}).get("editable"):
        return None
    return Path(unquote(urlparse(data["url"]).path))


def _build_wheel(wanted: PluginDistribution, source: Path, out: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        uv = shutil.which("uv")
        command = (
            [uv, "build", "--wheel", "--out-dir", tmp, str(source)]
            if uv
            else [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp, str(source)]
        )
        env = {
            **os.environ,
            "SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH", _SOURCE_DATE_EPOCH),
        }
        result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        built = sorted(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not built:
            last = (result.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise PluginBundleError(
                f"could not build a wheel of plugin {wanted.name!r} from {source}: {last}"
            )
        return Path(shutil.copy2(built[0], out / built[0].name))


def _repack(dist: importlib.metadata.Distribution, wanted: PluginDistribution, out: Path) -> Path:
    """A wheel of an installed (not editable) distribution, from the files its RECORD lists."""
    name = dist.metadata["Name"].replace("-", "_")
    wheel = out / f"{name}-{dist.version}-py3-none-any.whl"
    record_lines = []
    record: str | None = None
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(dist.files or (), key=lambda f: f.as_posix()):
            relative = file.as_posix()
            if relative.startswith("..") or "__pycache__" in relative or relative.endswith(".pyc"):
                continue  # scripts outside site-packages, byte code
            if relative.endswith(".dist-info/RECORD"):
                record = relative
                continue
            if relative.rsplit("/", 1)[-1] in _INSTALLER_FILES and ".dist-info/" in relative:
                continue  # written by the installer, not part of the distribution
            data = Path(str(dist.locate_file(file))).read_bytes()
            archive.writestr(_entry(relative), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record_lines.append(f"{relative},sha256={digest.decode()},{len(data)}")
        if not record_lines or record is None:
            raise PluginBundleError(
                f"plugin distribution {wanted.name!r} lists no files (no RECORD); reinstall it"
            )
        record_lines.append(f"{record},,")
        archive.writestr(_entry(record), "\n".join(record_lines) + "\n")
    return wheel


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info
