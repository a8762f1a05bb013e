"""The training job spec: one run of the training entry point, wherever it runs.

A :class:`TrainingJob` is plain data: the :class:`~food_recognition.config.RunConfig`,
where the images are (:class:`DataLocation`), the compute target by name, the
node count, the environment, the experiment name, tags and environment
variables. It renders to **one command line** of the library's training entry
point, and every compute target runs exactly that line:

>>> from food_recognition.config import RunConfig
>>> job = TrainingJob(RunConfig(), data="data/food-101")
>>> print(job.command(data_path="${{inputs.data}}", output="${{outputs.model}}"))
... # doctest: +NORMALIZE_WHITESPACE
python -m food_recognition.training --config run.yaml
    --output ${{outputs.model}} --data.path ${{inputs.data}}

The configuration travels as a YAML file (``run.yaml``) in the job's code
snapshot (:func:`write_snapshot`), next to a copy of this package: the command
line stays short and readable, the whole configuration is one reviewable file
in the job's record, and only what differs per run is an option on the line:
the data path (the mounted input on Azure), the output folder, and in a sweep
the swept fields (``--model.input_size ${{search_space.model__input_size}}``).
"""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import attrs

from food_recognition.config import ConfigError, Options, RunConfig, save_yaml, with_overrides
from food_recognition.plugins.manager import PluginManager
from food_recognition.plugins.resolve import resolve
from food_recognition.plugins.travel import PLUGINS_DIR, bundle, check_from_index

__all__ = [
    "CONFIG_FILE",
    "DATA_KINDS",
    "ENTRY_POINT_MODULE",
    "IDENTITIES",
    "PACKAGE_DIR",
    "DataLocation",
    "JobSpecError",
    "TrainingJob",
    "join_command",
    "write_snapshot",
]

#: The module every compute target runs (``python -m food_recognition.training``).
ENTRY_POINT_MODULE = "food_recognition.training"

#: The configuration file's name inside a job's code snapshot.
CONFIG_FILE = "run.yaml"

#: The model package's folder inside the entry point's ``--output`` folder (which
#: also holds checkpoints and a local MLflow store); training's ``PACKAGE_DIR``.
PACKAGE_DIR = "package"

#: ``local``: a folder here; ``blob``: ``https://<account>.blob.core.windows.net/<container>/<prefix>``
#: (Azure ML reads it through a datastore, :func:`food_recognition.azure.jobs.datastore_path`);
#: ``storage``: ``wasbs://<container>@<account>.blob.core.windows.net/<prefix>`` or
#: ``abfss://<filesystem>@<account>.dfs.core.windows.net/<prefix>``, read with the job's identity;
#: ``azureml``: an ``azureml://`` datastore path or an ``azureml:<name>:<version>`` data asset.
DATA_KINDS = ("local", "blob", "storage", "azureml")

#: Who reads a job's data on Azure ML: ``managed`` (the cluster's managed identity),
#: ``user`` (the submitter's own Microsoft Entra identity), or the client id (a GUID)
#: of a user-assigned managed identity attached to the cluster.
IDENTITIES = ("managed", "user")

_ACCOUNT = r"(?P<account>[a-z0-9]{3,24})"
_CONTAINER = r"(?P<container>[a-z0-9](?:[a-z0-9\-]{1,61}[a-z0-9])?)"
_BLOB_URL = re.compile(
    rf"^https://{_ACCOUNT}\.blob\.(?P<suffix>[a-z0-9.\-]+)/{_CONTAINER}(?:/(?P<prefix>.*))?$"
)
_STORAGE_URL = re.compile(
    rf"^(?P<scheme>wasbs|abfss)://{_CONTAINER}@{_ACCOUNT}\.(?P<service>blob|dfs)\."
    r"(?P<suffix>[a-z0-9.\-]+)(?:/(?P<prefix>.*))?$"
)
_CLIENT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\$\{\{[A-Za-z0-9_.]+\}\}")
_DATA_MODES = ("ro_mount", "download")


class JobSpecError(ConfigError):
    """A training job spec is not allowed; the message names the field and the fix."""


@attrs.define(frozen=True)
class DataLocation:
    """Where a job's images are: a local folder, a storage URL or an Azure ML URI.

    Build one with :meth:`parse`:

    >>> DataLocation.parse("https://acct.blob.core.windows.net/food/food-101").kind
    'blob'
    >>> DataLocation.parse("wasbs://food@acct.blob.core.windows.net/food-101").kind
    'storage'
    >>> DataLocation.parse("azureml:food101:1").kind
    'azureml'
    >>> DataLocation.parse("data/food-101").kind
    'local'

    :param uri: the location as given (a local path is made absolute).
    :param kind: one of :data:`DATA_KINDS`.
    """

    uri: str
    kind: str = attrs.field(validator=attrs.validators.in_(DATA_KINDS))

    @classmethod
    def parse(cls, value: str | Path | DataLocation) -> DataLocation:
        """Recognise what ``value`` names.

        :param value: a local folder, ``https://<account>.blob.core.windows.net/<container>/<prefix>``,
            ``wasbs://<container>@<account>.blob.core.windows.net/<prefix>``,
            ``abfss://<filesystem>@<account>.dfs.core.windows.net/<prefix>``,
            ``azureml://datastores/<name>/paths/<prefix>`` or ``azureml:<asset>:<version>``.
        :returns: the location.
        :raises JobSpecError: a URL carrying a query string (a SAS token would be
            stored in the job's record), or one that is none of the above.
        """
        if isinstance(value, DataLocation):
            return value
        text = str(value)
        if "://" in text and ("?" in text or "#" in text):
            raise JobSpecError(
                f"data location {text.split('?')[0].split('#')[0]!r} carries a query string "
                "(a SAS token would be stored in the job's record): pass the URL without it, "
                "and give the cluster's identity the Storage Blob Data Reader role instead"
            )
        if text.startswith("azureml:"):
            return cls(text, "azureml")
        if text.startswith(("http://", "https://")):
            if not _BLOB_URL.match(text):
                raise JobSpecError(
                    f"data location {text!r} is not a Blob container path; expected "
                    "https://<account>.blob.core.windows.net/<container>/<prefix>"
                )
            return cls(text.rstrip("/"), "blob")
        if text.startswith(("wasbs://", "abfss://")):
            match = _STORAGE_URL.match(text)
            if not match or (match["scheme"] == "wasbs") != (match["service"] == "blob"):
                raise JobSpecError(
                    f"data location {text!r} is not a storage path; expected "
                    "wasbs://<container>@<account>.blob.core.windows.net/<prefix> or "
                    "abfss://<filesystem>@<account>.dfs.core.windows.net/<prefix>"
                )
            return cls(text.rstrip("/"), "storage")
        if "://" in text:
            raise JobSpecError(
                f"data location {text!r}: unsupported scheme; use a local folder, "
                "https://<account>.blob.core.windows.net/<container>/<prefix>, "
                "wasbs://<container>@<account>.blob.core.windows.net/<prefix>, "
                "azureml://datastores/<name>/paths/<prefix> or azureml:<asset>:<version>"
            )
        return cls(str(Path(text).expanduser().absolute()), "local")

    @property
    def blob_container(self) -> tuple[str, str, str, str]:
        """A ``blob`` location's account, container, path prefix and endpoint suffix.

        >>> DataLocation.parse("https://acct.blob.core.windows.net/food/food-101").blob_container
        ('acct', 'food', 'food-101', 'core.windows.net')

        :raises JobSpecError: the location is not of kind ``blob``.
        """
        match = _BLOB_URL.match(self.uri) if self.kind == "blob" else None
        if match is None:
            raise JobSpecError(f"data location {self.uri!r} is not a Blob container path")
        return match["account"], match["container"], match["prefix"] or "", match["suffix"]


def _data(value: Any) -> DataLocation | None:
    return None if value is None else DataLocation.parse(value)


def _str_map(value: Any) -> Mapping[str, str]:
    # Options is an immutable, hashable mapping, so a frozen spec hashes.
    return cast(Mapping[str, str], Options({str(k): str(v) for k, v in dict(value or {}).items()}))


def _check_env_names(_inst: Any, _attr: Any, value: Mapping[str, str]) -> None:
    for name in value:
        if not _ENV_NAME.match(name):
            raise JobSpecError(
                f"environment variable name {name!r} is not valid: use letters, digits "
                "and '_', not starting with a digit"
            )


def _check_nodes(_inst: Any, _attr: Any, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise JobSpecError(f"TrainingJob.nodes={value!r} must be a whole number >= 1")


def _check_identity(_inst: Any, _attr: Any, value: str) -> None:
    if value in IDENTITIES or (isinstance(value, str) and _CLIENT_ID.match(value)):
        return
    raise JobSpecError(
        f"TrainingJob.identity={value!r}: use 'managed' (the cluster's managed identity), "
        "'user' (yours) or the client id of a user-assigned identity on the cluster "
        "(az identity show --query clientId)"
    )


def _check_name(_inst: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise JobSpecError(f"TrainingJob.{attribute.name}={value!r} must be a non-empty string")


@attrs.define(frozen=True)
class TrainingJob:
    """One training run, described once, for any compute target.

    :param config: the run's configuration.
    :param data: where the images are (a :class:`DataLocation` or a string
        :meth:`DataLocation.parse` accepts); ``None`` uses ``config.data.path``.
        On Azure ML it is mounted (or downloaded) as a ``uri_folder`` input.
    :param target: the compute target plugin's name (``local``, ``azureml``, ...).
    :param compute: the cluster on the target (Azure ML: the AmlCompute name);
        the ``local`` target ignores it.
    :param nodes: machines to train on; more than one uses TensorFlow's
        multi-worker distribution (Azure ML sets ``TF_CONFIG`` on each node).
    :param environment: an Azure ML environment reference
        (``azureml:<name>:<version>`` or ``azureml:<name>@latest``); ``None``
        builds the library's pinned GPU environment.
    :param experiment_name: groups runs in Azure ML and MLflow.
    :param display_name: the run's name in the studio; ``None`` lets the service choose.
    :param tags: string tags on the job.
    :param environment_variables: set in the training process (never put secrets here:
        they are stored in the job's record).
    :param data_mode: ``ro_mount`` (stream the files) or ``download`` (copy them
        to the node's disk first; faster epochs on many small images).
    :param identity: who reads the data on Azure ML (:data:`IDENTITIES`):
        ``managed``, the cluster's managed identity (give it Storage Blob Data
        Reader on the account); ``user``, the submitter's identity; or the
        client id of a user-assigned managed identity the cluster has. Never a
        key or SAS token.
    :param plugins_from_index: names of plugin distributions the run uses that
        are published on a package index the image build reaches: the
        environment installs ``name==version`` from there instead of a wheel
        built here (CLI ``--plugin-from-index NAME``).
    """

    config: RunConfig = attrs.field(validator=attrs.validators.instance_of(RunConfig))
    data: DataLocation | None = attrs.field(default=None, converter=_data)
    target: str = attrs.field(default="local", validator=_check_name)
    compute: str = attrs.field(default="gpu-cluster", validator=_check_name)
    nodes: int = attrs.field(default=1, validator=_check_nodes)
    environment: str | None = attrs.field(default=None, validator=_check_name)
    experiment_name: str = attrs.field(default="food-recognition", validator=_check_name)
    display_name: str | None = attrs.field(default=None, validator=_check_name)
    tags: Mapping[str, str] = attrs.field(factory=dict, converter=_str_map)
    environment_variables: Mapping[str, str] = attrs.field(
        factory=dict, converter=_str_map, validator=_check_env_names
    )
    data_mode: str = attrs.field(default="ro_mount", validator=attrs.validators.in_(_DATA_MODES))
    identity: str = attrs.field(default="managed", validator=_check_identity)
    plugins_from_index: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    @property
    def data_location(self) -> DataLocation:
        """:attr:`data`, or ``config.data.path`` when that is ``None``."""
        return self.data if self.data is not None else DataLocation.parse(self.config.data.path)

    def with_overrides(self, overrides: Mapping[str, Any]) -> TrainingJob:
        """A copy whose config has values set by dotted path (``{"training.epochs": 3}``).

        :raises food_recognition.config.ConfigError: a path or value the config refuses.
        """
        return attrs.evolve(self, config=with_overrides(self.config, overrides))

    def command_line(
        self,
        *,
        data_path: str,
        output: str,
        config_path: str = CONFIG_FILE,
        options: Mapping[str, str] | None = None,
        python: str = "python",
    ) -> list[str]:
        """The entry point's command line as an argument list.

        :param data_path: the data folder as the running process sees it
            (``${{inputs.data}}`` on Azure ML).
        :param output: where the model package goes (``${{outputs.model}}``).
        :param config_path: the configuration file, relative to the working folder.
        :param options: more fields to set, by dotted path (a sweep's swept
            fields): ``--section.field VALUE``, or ``--set section.options.NAME=VALUE``
            for a policy option.
        :param python: the interpreter to run.
        :returns: the arguments, the interpreter first.
        """
        argv = [python, "-m", ENTRY_POINT_MODULE, "--config", config_path, "--output", output]
        argv += ["--data.path", data_path]
        for path, value in (options or {}).items():
            if ".options." in path:
                argv += ["--set", f"{path}={value}"]
            else:
                argv += [f"--{path}", value]
        return argv

    def command(self, **kwargs: Any) -> str:
        """:meth:`command_line` joined into one shell line (what the Azure ML job runs).

        ``${{...}}`` placeholders are left unquoted so the service substitutes them.
        """
        return join_command(self.command_line(**kwargs))


def join_command(argv: Sequence[str]) -> str:
    """Join arguments into a shell line, quoting those that need it.

    ``${{...}}`` placeholders are left as they are, so the service substitutes them.
    """
    return " ".join(_quote(arg) for arg in argv)


def _quote(arg: str) -> str:
    plain = _PLACEHOLDER.sub("x", arg)
    return arg if plain and shlex.quote(plain) == plain else shlex.quote(arg)


def write_snapshot(
    job: TrainingJob, dest: str | Path, *, manager: PluginManager | None = None
) -> Path:
    """Write the job's code snapshot: this package, the plugins the run needs, ``run.yaml``.

    The snapshot is what a remote target uploads and runs from, so the code
    that runs there is the code here, whatever version the environment installed.
    The run is resolved first (:func:`~food_recognition.plugins.resolve.resolve`):
    a bad name or option is refused before anything is written. Each plugin
    distribution the run uses is unpacked at the snapshot's top (importable
    from the job's working folder) with its wheel in ``plugins/``
    (:func:`~food_recognition.plugins.travel.bundle`), named in
    ``plugins.json`` and in a comment at the top of ``run.yaml``; one named in
    ``job.plugins_from_index`` is only named.

    :param job: the job whose configuration goes into ``run.yaml``.
    :param dest: the folder to fill (created; must be empty if it exists).
    :param manager: the plugin manager; the process-wide one by default.
    :returns: ``dest``.
    :raises JobSpecError: ``dest`` exists and is not empty.
    :raises food_recognition.plugins.travel.PluginBundleError: a
        ``plugins_from_index`` name the run does not use.
    :raises food_recognition.plugins.UnknownNameError: an unknown backbone or policy.
    :raises food_recognition.config.ConfigError: a bad policy option.
    """
    resolved = resolve(job.config, manager)
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise JobSpecError(f"snapshot folder {dest} is not empty; pass a new or empty folder")
    dest.mkdir(parents=True, exist_ok=True)
    package = Path(__file__).resolve().parents[1]
    shutil.copytree(
        package,
        dest / package.name,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo"),
    )
    save_yaml(job.config, dest / CONFIG_FILE)
    check_from_index(resolved.distributions, job.plugins_from_index)
    if resolved.distributions:
        bundle(resolved.distributions, dest, from_index=job.plugins_from_index)
        names = ", ".join(d.requirement for d in resolved.distributions)
        text = (dest / CONFIG_FILE).read_text(encoding="utf-8")
        header = f"# plugins: {names} (unpacked here, wheels in {PLUGINS_DIR}/)\n"
        (dest / CONFIG_FILE).write_text(header + text, encoding="utf-8")
    return dest
