"""A training job spec as Azure ML v2 entities, and as YAML that ``load_job`` accepts.

:func:`build_command` makes the ``command`` node ``MLClient.jobs.create_or_update``
submits; :func:`build_sweep` the ``sweep`` node. :func:`write_job_yaml` writes
either as a folder holding the code snapshot and ``job.yml``, which
``azure.ai.ml.load_job`` and ``az ml job create --file`` take unchanged.

The SDK's builders return pipeline *nodes*; dumping one does not round-trip,
so the YAML is written from the node converted to a job (``node._to_job()``),
with two repairs: the code path is made relative to the YAML file, and input
paths the dump prefixes with ``azureml:`` (a Blob ``https://`` URL, a local
folder) are written as given.

When the run uses plugins, the job's environment installs them: it is a
Docker build context (:mod:`food_recognition.azure.environment.context`) made
from the snapshot's wheels, written beside the code (``environment/``), and
``job.yml`` refers to it relatively.

The data input is mounted from what Azure ML can mount: a Blob account URL
becomes a datastore path (:mod:`food_recognition.azure.jobs.data`), and the
job names the identity that reads it (``TrainingJob.identity``): the
cluster's managed identity by default, never a key or SAS token.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from food_recognition.azure.environment.context import (
    build_context_environment,
    plugin_build_context,
)
from food_recognition.azure.environment.images import DEFAULT_IMAGE
from food_recognition.azure.jobs.data import datastore_spec, job_data_path
from food_recognition.azure.jobs.sweep import Distribution, SweepSpec, search_name
from food_recognition.compute.job import CONFIG_FILE, PACKAGE_DIR, TrainingJob, write_snapshot

__all__ = [
    "COMMAND_SCHEMA",
    "DATASTORE_FILE",
    "DATA_INPUT",
    "ENVIRONMENT_DIR",
    "MODEL_OUTPUT",
    "SWEEP_SCHEMA",
    "build_command",
    "build_sweep",
    "job_entity",
    "job_environment",
    "job_identity",
    "model_package_uri",
    "write_job_yaml",
]

#: The job's input that mounts the data, and its output that receives the model package.
DATA_INPUT = "data"
MODEL_OUTPUT = "model"

#: The datastore document a dry run writes beside ``job.yml`` for a Blob account URL.
DATASTORE_FILE = "datastore.yml"

#: The folder, beside ``code/``, of the environment's build context when the run uses plugins.
ENVIRONMENT_DIR = "environment"

COMMAND_SCHEMA = "https://azuremlschemas.azureedge.net/latest/commandJob.schema.json"
SWEEP_SCHEMA = "https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json"


def model_package_uri(job_name: str) -> str:
    """The ``azureml://`` URI of a finished training job's model package.

    The job's ``model`` output is the entry point's ``--output`` folder; the
    package is its ``package/`` folder (beside checkpoints and MLflow files).
    Register that path (``food_recognition.azure.deploy.register_model``):

    >>> model_package_uri("sharp_pear_123")
    'azureml://jobs/sharp_pear_123/outputs/model/paths/package'

    :param job_name: the command job, or a sweep's trial (see
        :meth:`AzureMLTarget.best_trial <food_recognition.azure.jobs.AzureMLTarget.best_trial>`).
    :returns: the URI.
    """
    return f"azureml://jobs/{job_name}/outputs/{MODEL_OUTPUT}/paths/{PACKAGE_DIR}"


def build_command(
    job: TrainingJob,
    code_dir: str | Path,
    *,
    environment: Any = None,
    sweep: SweepSpec | None = None,
    datastore: str | None = None,
) -> Any:
    """The Azure ML ``command`` node that runs ``job``'s command line.

    :param job: the spec.
    :param code_dir: the code snapshot (:func:`~food_recognition.compute.write_snapshot`).
    :param environment: an ``Environment`` entity or reference; ``None`` uses
        ``job.environment`` or else the library's default GPU environment.
    :param sweep: when given, each swept field becomes an input the command
        line passes on, ready for :func:`build_sweep`.
    :param datastore: the datastore a Blob URL's container is read through
        (:func:`~food_recognition.azure.jobs.ensure_datastore`); ``None`` uses
        :func:`~food_recognition.azure.jobs.datastore_name`.
    :returns: an ``azure.ai.ml.entities.Command`` node.
    """
    from azure.ai.ml import Input, Output, TensorFlowDistribution, command

    from food_recognition.azure.environment import build_environment

    if environment is None:
        environment = job.environment or build_environment()
    location = job.data_location
    inputs: dict[str, Any] = {
        DATA_INPUT: Input(
            type="uri_folder", path=job_data_path(location, datastore), mode=job.data_mode
        )
    }
    options: dict[str, str] = {}
    if sweep is not None:
        for path in sweep.search_space:
            name = search_name(path)
            inputs[name] = _current_value(job, path)
            options[path] = _placeholder("inputs", name)
    line = job.command(
        data_path=_placeholder("inputs", DATA_INPUT),
        output=_placeholder("outputs", MODEL_OUTPUT),
        config_path=CONFIG_FILE,
        options=options,
    )
    extra: dict[str, Any] = {}
    if job.nodes > 1:
        extra["distribution"] = TensorFlowDistribution(
            worker_count=job.nodes, parameter_server_count=0
        )
    return command(
        command=line,
        code=str(code_dir),
        environment=environment,
        inputs=inputs,
        outputs={MODEL_OUTPUT: Output(type="uri_folder", mode="rw_mount")},
        compute=job.compute,
        instance_count=job.nodes,
        environment_variables=dict(job.environment_variables),
        experiment_name=job.experiment_name,
        display_name=job.display_name,
        tags=dict(job.tags),
        identity=job_identity(job.identity),
        **extra,
    )


def job_environment(job: TrainingJob, code_dir: str | Path, context_dir: str | Path) -> Any:
    """The environment a job runs in: its own, or the library's, installing the run's plugins.

    :param job: the spec; ``job.environment`` (a registered environment) wins.
    :param code_dir: the job's snapshot (:func:`~food_recognition.compute.write_snapshot`),
        whose ``plugins.json`` names the plugins and ``plugins/`` holds their wheels.
    :param context_dir: where to write the build context when there are plugins.
    :returns: ``job.environment``; the pinned GPU environment when the run uses
        no plugin; else an environment built from a Docker build context that
        installs the lock and the plugins
        (:func:`~food_recognition.azure.environment.context.write_build_context`).
    """
    from food_recognition.azure.environment import build_environment

    if job.environment:
        return job.environment
    context = plugin_build_context(code_dir, context_dir, extra="gpu", image=DEFAULT_IMAGE)
    if context is None:
        return build_environment()
    return build_context_environment(
        context, description="food_recognition training on GPU, with its plugins"
    )


def job_identity(identity: str) -> Any:
    """The SDK's identity configuration for ``TrainingJob.identity``.

    :param identity: ``managed``, ``user`` or a user-assigned identity's client id.
    :returns: ``ManagedIdentityConfiguration`` (with ``client_id`` for a
        user-assigned identity) or ``UserIdentityConfiguration``.
    """
    from azure.ai.ml.entities import ManagedIdentityConfiguration, UserIdentityConfiguration

    if identity == "user":
        return UserIdentityConfiguration()
    if identity == "managed":
        return ManagedIdentityConfiguration()
    # The job YAML schema takes a client id, not a resource id (azure/ai/ml/_schema/job/identity.py)
    return ManagedIdentityConfiguration(client_id=identity)


def build_sweep(
    job: TrainingJob,
    sweep: SweepSpec,
    code_dir: str | Path,
    *,
    environment: Any = None,
    datastore: str | None = None,
) -> Any:
    """The Azure ML ``sweep`` node: ``job`` as the trial, ``sweep`` as the search.

    :param job: the trial's spec.
    :param sweep: the search; checked against ``job.config`` first.
    :param code_dir: the code snapshot.
    :param environment: as for :func:`build_command`.
    :param datastore: as for :func:`build_command`.
    :returns: an ``azure.ai.ml.entities.Sweep`` node.
    :raises food_recognition.azure.jobs.SweepError: the sweep does not fit the configuration.
    """
    from azure.ai.ml.sweep import (
        BanditPolicy,
        MedianStoppingPolicy,
        TruncationSelectionPolicy,
    )

    sweep.check(job.config)
    node = build_command(job, code_dir, environment=environment, sweep=sweep, datastore=datastore)
    space = {search_name(p): _sdk_distribution(d) for p, d in sweep.search_space.items()}
    policy: Any = None
    term = sweep.early_termination
    if term is not None:
        common: dict[str, Any] = {
            "evaluation_interval": term.evaluation_interval,
            "delay_evaluation": term.delay_evaluation,
        }
        if term.policy == "bandit":
            slack: dict[str, Any] = {
                "slack_factor": term.slack_factor,
                "slack_amount": term.slack_amount,
            }
            policy = BanditPolicy(**common, **slack)
        elif term.policy == "median_stopping":
            policy = MedianStoppingPolicy(**common)
        else:
            percentage: Any = term.truncation_percentage
            policy = TruncationSelectionPolicy(**common, truncation_percentage=percentage)
    swept = node(**space).sweep(
        primary_metric=sweep.primary_metric,
        goal=sweep.resolved_goal,
        sampling_algorithm=sweep.sampling,
        early_termination_policy=policy,
        compute=job.compute,
    )
    limits = sweep.limits
    swept.set_limits(
        max_total_trials=limits.max_total_trials,
        max_concurrent_trials=limits.max_concurrent_trials,
        timeout=None if limits.timeout_minutes is None else limits.timeout_minutes * 60,
        trial_timeout=(
            None if limits.trial_timeout_minutes is None else limits.trial_timeout_minutes * 60
        ),
    )
    swept.experiment_name = job.experiment_name
    swept.display_name = job.display_name
    swept.tags = dict(job.tags)
    return swept


def job_entity(node: Any) -> Any:
    """The job a builder node stands for (``CommandJob`` or ``SweepJob``)."""
    entity = node._to_job()
    # The node-to-job conversion drops these on sweeps.
    for name in ("experiment_name", "display_name", "tags"):
        value = getattr(node, name, None)
        if value:
            setattr(entity, name, value)
    return entity


def write_job_yaml(
    job: TrainingJob,
    dest: str | Path,
    *,
    sweep: SweepSpec | None = None,
    environment: Any = None,
) -> Path:
    """Write ``job`` (or a sweep of it) as a folder ``az ml job create --file`` takes.

    The folder holds ``code/`` (the snapshot: this package and ``run.yaml``)
    and ``job.yml``, which refers to ``code/`` relatively, so the folder can
    be moved or committed. When the data is a Blob account URL, the job reads
    it through a datastore, and ``datastore.yml`` beside ``job.yml`` registers
    that datastore (identity-based, no credentials): ``az ml datastore create
    --file datastore.yml`` first, unless the workspace has one for the container.

    When the run uses plugins, ``environment/`` beside ``code/`` is the build
    context of the job's environment (:func:`job_environment`).

    :param job: the spec.
    :param dest: the folder to write (created; must be empty if it exists).
    :param sweep: write a sweep job instead of a command job.
    :param environment: as for :func:`build_command`; ``None``: :func:`job_environment`.
    :returns: the path of ``job.yml``.
    :raises food_recognition.compute.JobSpecError: ``dest`` is not empty.
    :raises food_recognition.azure.jobs.SweepError: the sweep does not fit the configuration.
    """
    dest = Path(dest)
    code = write_snapshot(job, dest / "code")
    if environment is None:
        environment = job_environment(job, code, dest / ENVIRONMENT_DIR)
    if sweep is None:
        node = build_command(job, code, environment=environment)
    else:
        node = build_sweep(job, sweep, code, environment=environment)
    # The SDK's dict holds OrderedDicts; JSON makes it plain data for YAML.
    data = json.loads(json.dumps(job_entity(node)._to_dict()))
    holder = data["trial"] if sweep is not None else data
    holder["code"] = "code"
    _relative_build(holder, dest)
    for name, given in node.inputs.items():
        original = getattr(getattr(given, "_data", given), "path", None)
        entry = data.get("inputs", {}).get(name)
        if isinstance(entry, dict) and isinstance(original, str):
            entry["path"] = original
    data = {"$schema": SWEEP_SCHEMA if sweep is not None else COMMAND_SCHEMA, **data}
    path = dest / "job.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    location = job.data_location
    if location.kind == "blob":
        store = yaml.safe_dump(datastore_spec(location), sort_keys=False)
        (dest / DATASTORE_FILE).write_text(store, encoding="utf-8")
    return path


def _relative_build(holder: dict[str, Any], dest: Path) -> None:
    # The dump holds the build context's absolute path; the folder must stay movable.
    env = holder.get("environment")
    build = env.get("build") if isinstance(env, dict) else None
    if isinstance(build, dict) and build.get("path"):
        path = Path(str(build["path"]))
        if path.is_absolute() and path.is_relative_to(dest.resolve()):
            build["path"] = path.relative_to(dest.resolve()).as_posix()


def _placeholder(kind: str, name: str) -> str:
    return "${{" + kind + "." + name + "}}"


def _current_value(job: TrainingJob, path: str) -> Any:
    node: Any = job.config
    for part in path.split("."):
        node = (
            node.get(part)
            if isinstance(node, dict) or hasattr(node, "get")
            else getattr(node, part, None)
        )
        if node is None:
            return "none"
    return node if isinstance(node, (int, float, str, bool)) else str(node)


def _sdk_distribution(dist: Distribution) -> Any:
    from azure.ai.ml import sweep as s

    q: Any = dist.q

    if dist.type == "choice":
        return s.Choice(values=list(dist.values or ()))
    if dist.type == "randint":
        return s.Randint(upper=dist.upper)
    if dist.type == "uniform":
        return s.Uniform(min_value=dist.min_value, max_value=dist.max_value)
    if dist.type == "quniform":
        return s.QUniform(min_value=dist.min_value, max_value=dist.max_value, q=q)
    if dist.type in ("loguniform", "qloguniform"):
        low = math.log(float(dist.min_value or 0.0))
        high = math.log(float(dist.max_value or 0.0))
        if dist.type == "loguniform":
            return s.LogUniform(min_value=low, max_value=high)
        return s.QLogUniform(min_value=low, max_value=high, q=q)
    sdk = {
        "normal": s.Normal,
        "qnormal": s.QNormal,
        "lognormal": s.LogNormal,
        "qlognormal": s.QLogNormal,
    }[dist.type]
    kwargs: dict[str, Any] = {"mu": dist.mu, "sigma": dist.sigma}
    if dist.q is not None:
        kwargs["q"] = dist.q
    return sdk(**kwargs)
