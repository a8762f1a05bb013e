"""Register a model package and serve it from an Azure ML online endpoint (SDK v2).

Two kinds of compute:

- an AKS cluster that carries the Azure ML Kubernetes extension, attached to
  the workspace as *Kubernetes* compute (:func:`attach_kubernetes_compute`):
  ``KubernetesOnlineEndpoint`` / ``KubernetesOnlineDeployment``. Online
  endpoints in v2 refuse the legacy AKS compute type, so a cluster attached
  the v1 way must be re-attached this way.
- Azure ML managed compute: ``ManagedOnlineEndpoint`` / ``ManagedOnlineDeployment``.

Either way the deployment runs :mod:`food_recognition.serving.score`, the
scoring script ``food-recognition serve`` runs locally, in an environment with
this library's dependencies (:func:`inference_environment`); the library's
source travels as the deployment's code (:func:`stage_code`).

An endpoint and a deployment are plain values (:class:`EndpointSpec`,
:class:`DeploymentSpec`) that render to SDK entities (:func:`build_endpoint`,
:func:`build_deployment`) and to YAML the SDK's own loaders accept
(:func:`write_yaml`), so ``az ml online-endpoint create -f`` takes them too.
Blue/green rollouts move traffic between two deployments
(:func:`plan_traffic_shift`, :func:`set_traffic`).

Credentials: the endpoint's key or an Azure AD token, fetched when needed
(:func:`scoring_client`); never a key in code or configuration.

>>> spec = EndpointSpec(name="food-aks", compute="aks-cluster")
>>> spec.kind
'kubernetes'
>>> plan_traffic_shift({"blue": 100}, "green", 10)
{'blue': 90, 'green': 10}
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from food_recognition.azure.environment.images import INFERENCE_IMAGE
from food_recognition.errors import CloudError
from food_recognition.plugins.resolve import PluginDistribution
from food_recognition.plugins.travel import bundle, check_from_index, read_plugins_file

__all__ = [
    "AUTH_MODES",
    "DEFAULT_INFERENCE_IMAGE",
    "DEFAULT_INSTANCE_TYPE",
    "ENVIRONMENT_DIR",
    "JOB_OUTPUT_PREFIX",
    "KNOWN_INSTANCE_TYPES",
    "DeployError",
    "DeploymentSpec",
    "EndpointSpec",
    "ProbeSpec",
    "ResourceLimits",
    "attach_kubernetes_compute",
    "build_deployment",
    "build_endpoint",
    "check_resources",
    "delete",
    "deploy",
    "deployment_environment",
    "get_logs",
    "inference_conda",
    "inference_environment",
    "invoke",
    "job_output_uri",
    "package_plugins",
    "package_tags",
    "plan_traffic_shift",
    "register_model",
    "scoring_client",
    "set_traffic",
    "shift_traffic",
    "stage_code",
    "write_yaml",
]

#: Authentication modes an online endpoint accepts.
AUTH_MODES = ("key", "aml_token", "aad_token")
#: The folder, beside ``code/``, of the environment's build context when the model needs plugins.
ENVIRONMENT_DIR = "environment"

#: The base image of the inference environment (Ubuntu 22.04 with conda), at a dated tag:
#: :data:`food_recognition.azure.environment.INFERENCE_IMAGE`.
DEFAULT_INFERENCE_IMAGE = INFERENCE_IMAGE
#: The scoring script's path inside the staged code folder.
SCORING_SCRIPT = "food_recognition/serving/score.py"

_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$")
#: The prefix of a job output's URI; a deployment cannot take one (it must be registered first).
JOB_OUTPUT_PREFIX = "azureml://jobs/"


class DeployError(CloudError, ValueError):
    """A deployment request that cannot work; the message says what to change."""


def _check_name(what: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_instance: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str) or not _NAME.match(value):
            raise DeployError(
                f"{what} name {value!r} is not allowed: 3 to 32 letters, digits or hyphens, "
                "starting with a letter and not ending with a hyphen"
            )

    return check


def _positive(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DeployError(f"{attribute.name}={value!r} must be a positive integer")


_CPU = re.compile(r"^(?P<number>\d+(?:\.\d+)?)(?P<unit>m?)$")
_MEMORY = re.compile(r"^(?P<number>\d+(?:\.\d+)?)(?P<unit>Ki|Mi|Gi|Ti|k|K|M|G|T)?$")
_MEMORY_UNITS = {
    None: 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def _amount(what: str, quantity: str) -> float:
    """A Kubernetes quantity as a number: CPU in cores, memory in bytes."""
    if what == "cpu":
        match = _CPU.match(quantity)
        if match is None:
            raise DeployError(f'cpu {quantity!r} is not a Kubernetes CPU quantity ("2", "500m")')
        return float(match["number"]) / (1000 if match["unit"] else 1)
    match = _MEMORY.match(quantity)
    if match is None:
        raise DeployError(
            f'memory {quantity!r} is not a Kubernetes memory quantity ("2Gi", "512Mi")'
        )
    return float(match["number"]) * _MEMORY_UNITS[match["unit"]]


def _check_quantity(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise DeployError(f'{attribute.name}={value!r} must be a string such as "2" or "2Gi"')
    _amount("cpu" if attribute.name.startswith("cpu") else "memory", value)


@attrs.define(frozen=True)
class ResourceLimits:
    """What one pod of a Kubernetes instance type may use at most.

    :param cpu: CPU limit, Kubernetes notation (``"2"``, ``"1500m"``).
    :param memory: memory limit, Kubernetes notation (``"2Gi"``).
    """

    cpu: str
    memory: str

    def fits(self, cpu: str | None, memory: str | None) -> list[str]:
        """The problems with a request or limit of ``cpu`` and ``memory`` under these limits.

        >>> ResourceLimits(cpu="2", memory="2Gi").fits("500m", "4Gi")
        ['memory 4Gi is above 2Gi']

        :param cpu: a CPU quantity, or ``None``.
        :param memory: a memory quantity, or ``None``.
        :returns: one phrase per quantity over its limit; empty when both fit.
        """
        problems = []
        for what, asked, limit in (("cpu", cpu, self.cpu), ("memory", memory, self.memory)):
            if asked is not None and _amount(what, asked) > _amount(what, limit):
                problems.append(f"{what} {asked} is above {limit}")
        return problems


#: Kubernetes instance types every attached cluster has, with their limits. Azure ML
#: creates ``defaultinstancetype`` (requests 100m CPU / 2Gi, limits 2 CPU / 2Gi) when a
#: cluster is attached, and uses it when a deployment names none:
#: https://learn.microsoft.com/en-us/azure/machine-learning/how-to-manage-kubernetes-instance-types
KNOWN_INSTANCE_TYPES: Mapping[str, ResourceLimits] = {
    "defaultinstancetype": ResourceLimits(cpu="2", memory="2Gi"),
}

#: The instance type a Kubernetes deployment gets when it names none.
DEFAULT_INSTANCE_TYPE = "defaultinstancetype"


@attrs.define(frozen=True)
class EndpointSpec:
    """An online endpoint: its name, where it runs, how callers authenticate.

    :param name: unique in the Azure region (3-32 letters, digits, hyphens).
    :param compute: the attached Kubernetes compute's name for an AKS endpoint;
        ``None`` for managed compute.
    :param auth_mode: ``key``, ``aml_token`` or ``aad_token`` (Azure AD; managed
        endpoints only).
    :param description: shown in the studio.
    :param tags: free-form tags.
    """

    name: str = attrs.field(validator=_check_name("endpoint"))
    compute: str | None = None
    auth_mode: str = attrs.field(default="key")
    description: str = "Food-photo classifier (food_recognition)"
    tags: Mapping[str, str] = attrs.field(factory=dict, converter=dict)

    @auth_mode.validator
    def _check_auth(self, _attribute: attrs.Attribute[Any], value: str) -> None:
        if value not in AUTH_MODES:
            raise DeployError(f"auth_mode={value!r} is not allowed; choose one of {AUTH_MODES}")
        if value == "aad_token" and self.compute is not None:
            raise DeployError(
                "auth_mode='aad_token' is for managed endpoints; a Kubernetes endpoint "
                "takes 'key' or 'aml_token'"
            )

    @property
    def kind(self) -> str:
        """``kubernetes`` (on an attached AKS cluster) or ``managed``."""
        return "managed" if self.compute is None else "kubernetes"


@attrs.define(frozen=True)
class ProbeSpec:
    """A liveness or readiness probe of the scoring container (``GET /``).

    :param initial_delay: seconds after the start before the first probe
        (loading a large model takes a while).
    :param period: seconds between probes.
    :param timeout: seconds a probe may take.
    :param failure_threshold: failed probes before the container is restarted
        (liveness) or taken out of the load balancer (readiness).
    :param success_threshold: successes before it counts as healthy again.
    """

    initial_delay: int = 10
    period: int = 10
    timeout: int = 2
    failure_threshold: int = 30
    success_threshold: int = 1

    def to_sdk(self) -> Any:
        """The SDK's ``ProbeSettings``."""
        from azure.ai.ml.entities import ProbeSettings

        return ProbeSettings(
            initial_delay=self.initial_delay,
            period=self.period,
            timeout=self.timeout,
            failure_threshold=self.failure_threshold,
            success_threshold=self.success_threshold,
        )


@attrs.define(frozen=True, kw_only=True)
class DeploymentSpec:
    """One deployment of a model package behind an endpoint (``blue``, ``green``...).

    :param name: the deployment's name.
    :param endpoint_name: the endpoint it belongs to.
    :param model: a registered model (``azureml:NAME:VERSION``), a training
        job's package (``azureml://jobs/JOB/outputs/model/paths/package``, see
        :func:`job_output_uri`; :func:`deploy` registers it first, as a
        deployment cannot take a job output), or a local package folder
        (uploaded and registered anonymously).
    :param environment: a registered environment (``azureml:NAME:VERSION``);
        ``None`` builds :func:`inference_environment`.
    :param instance_type: a managed VM size (``Standard_DS3_v2``) or the
        Kubernetes compute's instance type (``defaultinstancetype``).
    :param instance_count: instances (managed; and Kubernetes without autoscale).
    :param cpu_request: Kubernetes CPU request (``"1"``, ``"500m"``); ``None``
        (the default) leaves it to the instance type.
    :param memory_request: Kubernetes memory request (``"2Gi"``); ``None`` leaves
        it to the instance type.
    :param cpu_limit: Kubernetes CPU limit; ``None`` leaves it to the instance type.
    :param memory_limit: Kubernetes memory limit; ``None`` leaves it to the instance type.
        Requests and limits must fit the instance type's limits
        (:data:`KNOWN_INSTANCE_TYPES`, :func:`check_resources`).
    :param min_instances: autoscale floor (Kubernetes; with ``max_instances``).
    :param max_instances: autoscale ceiling; ``None`` disables autoscale.
    :param target_utilization: autoscale target, percent of CPU.
    :param liveness: the liveness probe.
    :param readiness: the readiness probe.
    :param request_timeout_ms: the longest a scoring request may take.
    :param max_concurrent_requests: requests one instance handles at once.
    :param workers: inference server workers per instance (``WORKER_COUNT``);
        each holds its own copy of the model.
    :param app_insights: send logs and metrics to the workspace's Application Insights.
    :param blob_account_url: the storage account blob requests read from
        (with the deployment's managed identity).
    :param blob_containers: the containers blob requests may name.
    :param max_bytes: largest image in bytes; ``None`` keeps the default.
    :param max_pixels: largest image in pixels; ``None`` keeps the default.
    :param environment_variables: any further variables.
    :param plugins_from_index: names of plugin distributions the model needs
        that are published on a package index the image build reaches: the
        environment installs ``name==version`` from there instead of a wheel
        built here (CLI ``--plugin-from-index NAME``).
    """

    name: str = attrs.field(default="blue", validator=_check_name("deployment"))
    endpoint_name: str = attrs.field(validator=_check_name("endpoint"))
    model: str
    environment: str | None = None
    instance_type: str | None = None
    instance_count: int = attrs.field(default=1, validator=_positive)
    cpu_request: str | None = attrs.field(default=None, validator=_check_quantity)
    memory_request: str | None = attrs.field(default=None, validator=_check_quantity)
    cpu_limit: str | None = attrs.field(default=None, validator=_check_quantity)
    memory_limit: str | None = attrs.field(default=None, validator=_check_quantity)
    min_instances: int = attrs.field(default=1, validator=_positive)
    max_instances: int | None = None
    target_utilization: int = 70
    liveness: ProbeSpec = attrs.field(
        factory=lambda: ProbeSpec(initial_delay=30, failure_threshold=30)
    )
    readiness: ProbeSpec = attrs.field(factory=lambda: ProbeSpec(failure_threshold=3))
    request_timeout_ms: int = attrs.field(default=5000, validator=_positive)
    max_concurrent_requests: int = attrs.field(default=1, validator=_positive)
    workers: int = attrs.field(default=1, validator=_positive)
    app_insights: bool = True
    blob_account_url: str | None = None
    blob_containers: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    max_bytes: int | None = None
    max_pixels: int | None = None
    environment_variables: Mapping[str, str] = attrs.field(factory=dict, converter=dict)
    plugins_from_index: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    def __attrs_post_init__(self) -> None:
        if self.max_instances is not None and self.max_instances < self.min_instances:
            raise DeployError(
                f"max_instances={self.max_instances} is below min_instances={self.min_instances}"
            )
        if self.blob_containers and not self.blob_account_url:
            raise DeployError("blob_containers needs blob_account_url (the account they are in)")
        if not 1 <= self.target_utilization <= 100:
            raise DeployError(f"target_utilization={self.target_utilization} must be 1 to 100")
        for what, request, limit in (
            ("cpu", self.cpu_request, self.cpu_limit),
            ("memory", self.memory_request, self.memory_limit),
        ):
            if (
                request is not None
                and limit is not None
                and _amount(what, request) > _amount(what, limit)
            ):
                raise DeployError(
                    f"{what} request {request} is above its limit {limit}; "
                    f"lower the request or raise the limit"
                )

    @property
    def resources(self) -> dict[str, dict[str, str]]:
        """The Kubernetes requests and limits given, ``{"requests": {...}, "limits": {...}}``.

        Empty when none is given: the instance type's own apply.
        """
        result: dict[str, dict[str, str]] = {}
        for section, cpu, memory in (
            ("requests", self.cpu_request, self.memory_request),
            ("limits", self.cpu_limit, self.memory_limit),
        ):
            given = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
            if given:
                result[section] = given
        return result

    def scoring_environment(self) -> dict[str, str]:
        """The variables the scoring script and the inference server read.

        Threaded workers (the same settings ``food-recognition serve`` uses, see
        :func:`~food_recognition.serving.server.worker_environment`), with at least
        as many threads per worker as the endpoint may send it requests, and body
        and blob deadlines inside the endpoint's request timeout.
        """
        from food_recognition.serving.scoring import (
            DEFAULT_BLOB_TIMEOUT_S,
            DEFAULT_READ_TIMEOUT_S,
            ENV_BLOB_ACCOUNT_URL,
            ENV_BLOB_CONTAINERS,
            ENV_BLOB_TIMEOUT_S,
            ENV_MAX_BYTES,
            ENV_MAX_PIXELS,
            ENV_READ_TIMEOUT_S,
        )
        from food_recognition.serving.server import DEFAULT_THREADS, worker_environment

        request_s = self.request_timeout_ms / 1000
        env = {
            "WORKER_COUNT": str(self.workers),
            # The server's own timeout a little under the endpoint's, so it answers first.
            "SCORING_TIMEOUT_MS": str(max(1000, self.request_timeout_ms - 500)),
            ENV_READ_TIMEOUT_S: f"{min(DEFAULT_READ_TIMEOUT_S, max(1.0, request_s - 1)):g}",
            ENV_BLOB_TIMEOUT_S: f"{min(DEFAULT_BLOB_TIMEOUT_S, max(1.0, request_s / 2)):g}",
        }
        if self.blob_account_url:
            env[ENV_BLOB_ACCOUNT_URL] = self.blob_account_url
            env[ENV_BLOB_CONTAINERS] = ",".join(self.blob_containers)
        if self.max_bytes is not None:
            env[ENV_MAX_BYTES] = str(self.max_bytes)
        if self.max_pixels is not None:
            env[ENV_MAX_PIXELS] = str(self.max_pixels)
        env.update(self.environment_variables)
        # Health probes need a thread too, beyond the requests the endpoint sends at once.
        per_worker = -(-self.max_concurrent_requests // self.workers) + 1
        env.update(worker_environment(max(DEFAULT_THREADS, per_worker), self.environment_variables))
        return env


def build_endpoint(spec: EndpointSpec) -> Any:
    """The SDK entity for an endpoint (created with no traffic; see :func:`set_traffic`).

    :param spec: the endpoint.
    :returns: a ``KubernetesOnlineEndpoint`` or ``ManagedOnlineEndpoint``.
    """
    from azure.ai.ml.entities import (
        IdentityConfiguration,
        KubernetesOnlineEndpoint,
        ManagedOnlineEndpoint,
    )

    # A system-assigned identity is what reads allowed blobs (grant it Storage Blob Data Reader).
    identity = IdentityConfiguration(type="system_assigned")
    common: dict[str, Any] = {
        "name": spec.name,
        "auth_mode": spec.auth_mode,
        "description": spec.description,
        "tags": dict(spec.tags),
        "identity": identity,
    }
    if spec.compute is None:
        return ManagedOnlineEndpoint(**common)
    return KubernetesOnlineEndpoint(compute=spec.compute, **common)


def build_deployment(
    spec: DeploymentSpec,
    *,
    kind: str,
    code_dir: str | Path,
    environment: Any = None,
) -> Any:
    """The SDK entity for a deployment.

    :param spec: the deployment.
    :param kind: ``kubernetes`` or ``managed`` (:attr:`EndpointSpec.kind`).
    :param code_dir: a folder from :func:`stage_code`.
    :param environment: an SDK ``Environment`` or ``azureml:`` reference; by
        default ``spec.environment`` or :func:`inference_environment`.
    :returns: a ``KubernetesOnlineDeployment`` or ``ManagedOnlineDeployment``.
    :raises DeployError: an unknown kind, a local model folder with no package,
        a job output as the model (register it first), or resources the
        instance type cannot give (:func:`check_resources`).
    """
    from azure.ai.ml.entities import (
        CodeConfiguration,
        DefaultScaleSettings,
        KubernetesOnlineDeployment,
        ManagedOnlineDeployment,
        OnlineRequestSettings,
        ResourceRequirementsSettings,
        ResourceSettings,
        TargetUtilizationScaleSettings,
    )

    if kind not in ("kubernetes", "managed"):
        raise DeployError(f"kind={kind!r}: choose 'kubernetes' or 'managed'")
    check_resources(spec, kind=kind)
    env = environment or spec.environment or inference_environment()
    common: dict[str, Any] = {
        "name": spec.name,
        "endpoint_name": spec.endpoint_name,
        "model": _model_reference(spec.model),
        "environment": env,
        "code_configuration": CodeConfiguration(
            code=str(Path(code_dir).resolve()), scoring_script=SCORING_SCRIPT
        ),
        "environment_variables": spec.scoring_environment(),
        "app_insights_enabled": spec.app_insights,
        "liveness_probe": spec.liveness.to_sdk(),
        "readiness_probe": spec.readiness.to_sdk(),
        "request_settings": OnlineRequestSettings(
            request_timeout_ms=spec.request_timeout_ms,
            max_concurrent_requests_per_instance=spec.max_concurrent_requests,
        ),
        "instance_count": spec.instance_count,
    }
    if kind == "managed":
        return ManagedOnlineDeployment(
            instance_type=spec.instance_type or "Standard_DS3_v2", **common
        )
    scale: Any = DefaultScaleSettings()
    if spec.max_instances is not None:
        scale = TargetUtilizationScaleSettings(
            min_instances=spec.min_instances,
            max_instances=spec.max_instances,
            target_utilization_percentage=spec.target_utilization,
            polling_interval=10,
        )
    # Nothing beyond the instance type unless asked: its own requests and limits apply.
    # The block itself is sent, empty, because azure-ai-ml 1.35 reads a Kubernetes
    # deployment's answer with no containerResourceRequirements as an error
    # (entities/_deployment/resource_requirements_settings.py:53).
    sections = {k: ResourceSettings(**v) for k, v in spec.resources.items()}
    resources = ResourceRequirementsSettings(**sections)
    return KubernetesOnlineDeployment(
        instance_type=spec.instance_type or DEFAULT_INSTANCE_TYPE,
        scale_settings=scale,
        resources=resources,
        **common,
    )


def check_resources(
    spec: DeploymentSpec,
    *,
    kind: str = "kubernetes",
    instance_types: Mapping[str, ResourceLimits] | None = None,
) -> None:
    """Refuse requests and limits that the deployment's instance type cannot give.

    Azure ML refuses a Kubernetes deployment whose resources exceed its
    instance type's limits; this says so before anything is sent.

    >>> spec = DeploymentSpec(endpoint_name="food", model="azureml:food:1", memory_limit="4Gi")
    >>> try:
    ...     check_resources(spec)
    ... except DeployError as error:
    ...     print(str(error).split(": ")[1].split(";")[0])
    limit memory 4Gi is above 2Gi

    :param spec: the deployment.
    :param kind: ``kubernetes`` or ``managed``.
    :param instance_types: instance types the cluster reports, by name, over
        :data:`KNOWN_INSTANCE_TYPES`; one known to neither is not checked.
    :raises DeployError: a request or limit above the instance type's limit,
        resources without both a CPU and a memory request (Azure ML requires both
        once any is given), or requests and limits on a managed deployment (its
        size is its VM size).
    """
    if kind == "managed":
        if spec.resources:
            raise DeployError(
                "cpu and memory requests and limits are for Kubernetes deployments; a managed "
                "deployment's size is its instance_type, a VM size (--instance-type "
                "Standard_DS3_v2)"
            )
        return
    known = {**KNOWN_INSTANCE_TYPES, **(instance_types or {})}
    name = spec.instance_type or DEFAULT_INSTANCE_TYPE
    limits = known.get(name)
    if limits is None:
        _check_requests(spec)
        return
    problems = [
        f"{section.removesuffix('s')} {problem}"
        for section, values in spec.resources.items()
        for problem in limits.fits(values.get("cpu"), values.get("memory"))
    ]
    if problems:
        raise DeployError(
            f"deployment {spec.name!r} does not fit instance type {name!r} "
            f"(limits {limits.cpu} CPU / {limits.memory}): {'; '.join(problems)}; lower it, or "
            "create a larger instance type on the cluster and pass it as instance_type "
            "(--instance-type)"
        )
    _check_requests(spec)


def _check_requests(spec: DeploymentSpec) -> None:
    # Azure ML fails a Kubernetes deployment whose resources section lacks a CPU or a
    # memory request (limits are optional): "Resource section validation" in
    # https://learn.microsoft.com/en-us/azure/machine-learning/how-to-manage-kubernetes-instance-types
    if spec.resources and (spec.cpu_request is None or spec.memory_request is None):
        raise DeployError(
            f"deployment {spec.name!r} sets resources without both a CPU and a memory request, "
            "which Azure ML refuses; give both (--cpu and --memory), or none of --cpu, "
            "--memory, --cpu-limit, --memory-limit to use the instance type's"
        )


def inference_conda(package: str | None = None) -> dict[str, Any]:
    """The conda specification of the inference environment.

    The training environment's file (:mod:`food_recognition.azure.environment`)
    with the ``cpu`` lock instead of the ``gpu`` one: every package pinned and
    hashed, ``azureml-inference-server-http`` and everything the scoring
    script imports at the versions the tests ran.

    :param package: a pip requirement that installs this package; ``None`` lists
        its requirements (``cpu`` extra) instead, as the deployment's code folder
        brings the package (:func:`stage_code`).
    :returns: the conda file's content as a dict.
    """
    from food_recognition.azure.environment import conda_spec

    spec = conda_spec(package, extra="cpu")
    spec["name"] = "food-recognition-inference"
    return spec


def inference_environment(
    name: str = "food-recognition-inference",
    version: str | None = None,
    *,
    package: str | None = None,
) -> Any:
    """The inference environment: :data:`DEFAULT_INFERENCE_IMAGE` plus :func:`inference_conda`.

    :param name: the environment's name when registered.
    :param version: its version; ``None`` lets Azure ML number it.
    :param package: the pip requirement for this package (see :func:`inference_conda`).
    :returns: an SDK ``Environment``.
    """
    from azure.ai.ml.entities import Environment

    return Environment(
        name=name,
        version=version,
        image=DEFAULT_INFERENCE_IMAGE,
        conda_file=inference_conda(package),
        description="Serves food_recognition model packages with azureml-inference-server-http",
    )


def stage_code(
    dest: str | Path,
    *,
    plugins: Iterable[PluginDistribution] = (),
    from_index: Iterable[str] = (),
) -> Path:
    """Copy the library's source into ``dest``: the deployment's code folder.

    The inference server puts the code folder on ``sys.path``, so the scoring
    script (``food_recognition/serving/score.py`` in it) imports the library
    from there, the same version as the one that wrote the deployment; the
    plugin distributions the model needs travel the same way
    (:func:`~food_recognition.plugins.travel.bundle`: unpacked next to it,
    wheels in ``plugins/``).

    :param dest: the folder (created; an old copy inside it is replaced).
    :param plugins: the model package's plugin distributions (its ``plugins.json``;
        :func:`package_plugins`).
    :param from_index: the names of those published on an index (named, not copied).
    :returns: ``dest``.
    :raises food_recognition.plugins.travel.PluginBundleError: a ``from_index``
        name the package does not need.
    """
    import food_recognition

    plugins = tuple(plugins)
    check_from_index(plugins, from_index)  # before anything is written
    dest = Path(dest)
    source = Path(food_recognition.__file__).parent
    target = dest / "food_recognition"
    if target.exists():
        shutil.rmtree(target)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if plugins:
        bundle(plugins, dest, from_index=from_index)
    return dest


def deployment_environment(
    spec: DeploymentSpec, code_dir: str | Path, context_dir: str | Path
) -> Any:
    """The environment a deployment's model needs, when it needs plugins.

    :param spec: the deployment; ``spec.environment`` (a registered one) wins.
    :param code_dir: its code folder (:func:`stage_code`), whose ``plugins.json``
        names the plugins and ``plugins/`` holds their wheels.
    :param context_dir: where to write the build context when there are plugins.
    :returns: ``spec.environment``; ``None`` when the model needs no plugin
        (:func:`build_deployment` then uses :func:`inference_environment`);
        else an environment built from a Docker build context that installs
        the ``cpu`` lock and the plugins on :data:`DEFAULT_INFERENCE_IMAGE`
        (:func:`~food_recognition.azure.environment.context.write_build_context`).
        The inference server runs from that environment as from any image that
        has it: Azure ML's custom-container examples deploy a scoring script on
        a build-context environment
        (github.com/Azure/azureml-examples, cli/endpoints/online/custom-container/minimal).
    """
    from food_recognition.azure.environment.context import (
        build_context_environment,
        plugin_build_context,
    )

    if spec.environment:
        return spec.environment
    context = plugin_build_context(code_dir, context_dir, extra="cpu", image=INFERENCE_IMAGE)
    if context is None:
        return None
    return build_context_environment(
        context, description="Serves food_recognition model packages, with their plugins"
    )


def package_plugins(model: str) -> tuple[PluginDistribution, ...]:
    """The plugin distributions a local model package names; none for a registered model.

    :param model: the deployment's model: a local package folder (or the
        folder holding ``package/``), or an ``azureml:`` reference.
    """
    folder = Path(model)
    if not folder.is_dir():
        return ()
    return read_plugins_file(folder) or read_plugins_file(folder / "package")


def write_yaml(
    endpoint: EndpointSpec,
    deployment: DeploymentSpec,
    out_dir: str | Path,
    *,
    environment: Any = None,
) -> tuple[Path, Path]:
    """Write the endpoint and deployment as YAML the SDK loaders (and ``az ml``) accept.

    The library's source is staged next to them (``code/``) and referenced by path;
    when the model needs plugins, ``environment/`` is the build context of the
    environment that installs them (:func:`deployment_environment`).

    :param endpoint: the endpoint.
    :param deployment: the deployment (its ``endpoint_name`` must be the endpoint's).
    :param out_dir: the folder to write ``endpoint.yaml``, ``deployment-NAME.yaml`` and ``code/``.
    :param environment: an SDK ``Environment`` to use instead of the spec's or the default.
    :returns: the two YAML paths.
    :raises DeployError: the deployment names another endpoint, asks for
        resources its instance type cannot give, or names a job output
        (register it first; :func:`deploy` does).
    """
    _same_endpoint(endpoint, deployment)
    check_resources(deployment, kind=endpoint.kind)
    _model_reference(deployment.model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    code = stage_code(
        out / "code",
        plugins=package_plugins(deployment.model),
        from_index=deployment.plugins_from_index,
    )
    context = (out / ENVIRONMENT_DIR).resolve()
    if environment is None:
        environment = deployment_environment(deployment, code, context)
    endpoint_path = out / "endpoint.yaml"
    deployment_path = out / f"deployment-{deployment.name}.yaml"
    endpoint_entity = build_endpoint(endpoint)
    deployment_entity = build_deployment(
        deployment, kind=endpoint.kind, code_dir=code, environment=environment
    )
    schema = (
        f"https://azuremlschemas.azureedge.net/latest/{endpoint.kind}OnlineEndpoint.schema.json"
    )
    _write(endpoint_path, schema, _plain(endpoint_entity._to_dict()))
    document = _plain(deployment_entity._to_dict())
    # Relative paths keep the folder movable; the loaders resolve them from the YAML's folder.
    document["code_configuration"]["code"] = "code"
    env = document.get("environment")
    build = env.get("build") if isinstance(env, dict) else None
    if isinstance(build, dict) and Path(str(build.get("path"))).resolve() == context:
        build["path"] = ENVIRONMENT_DIR  # the build context written here
    model = document.get("model")
    if isinstance(model, dict) and "path" in model:
        model["path"] = str(Path(model["path"]).resolve())
    schema = (
        f"https://azuremlschemas.azureedge.net/latest/{endpoint.kind}OnlineDeployment.schema.json"
    )
    _write(deployment_path, schema, document)
    return endpoint_path, deployment_path


# -- calls that touch Azure ML ---------------------------------------------------------


def register_model(
    ml_client: Any,
    source: str | Path,
    *,
    name: str = "food-recognition",
    version: str | None = None,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> Any:
    """Register a model package: a local folder, or a job's output.

    :param ml_client: an ``azure.ai.ml.MLClient`` for the workspace.
    :param source: a local package folder (it must hold every file of
        :data:`~food_recognition.package.REQUIRED_FILES`), or a job's package
        (``azureml://jobs/JOB/outputs/model/paths/package``, :func:`job_output_uri`).
    :param name: the model's name.
    :param version: its version; ``None`` lets Azure ML number it.
    :param description: shown in the studio.
    :param tags: free-form tags (a local package's metrics are added).
    :returns: the registered ``Model``.
    :raises DeployError: a local folder that is not a model package.
    """
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Model

    all_tags = dict(tags or {})
    path = str(source)
    if not path.startswith("azureml://"):
        package = Path(source)
        all_tags = package_tags(package, all_tags)
        path = str(package.resolve())
    model = Model(
        name=name,
        version=version,
        path=path,
        type=AssetTypes.CUSTOM_MODEL,
        description=description or "food_recognition model package",
        tags=all_tags,
    )
    return ml_client.models.create_or_update(model)


def package_tags(package: str | Path, tags: Mapping[str, str] | None = None) -> dict[str, str]:
    """Model tags for a local package: ``tags`` plus its metrics (``metrics.json``), as text.

    :param package: the package folder.
    :param tags: tags to start from.
    :returns: the tags.
    :raises DeployError: the folder is not a model package.
    """
    package = Path(package)
    _check_package(package)
    result = dict(tags or {})
    metrics_file = package / "metrics.json"
    if metrics_file.is_file():
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        result.update({k: f"{v:.4g}" for k, v in metrics.items() if _is_number(v)})
    return result


def job_output_uri(job_name: str) -> str:
    """The ``azureml://`` URI of a training job's model package, for :func:`register_model`.

    The same as :func:`food_recognition.azure.jobs.model_package_uri`: the
    package is the ``package/`` folder of the job's ``model`` output.

    >>> job_output_uri("sharp_pear_123")
    'azureml://jobs/sharp_pear_123/outputs/model/paths/package'

    :param job_name: the job (for a sweep, its best trial).
    :returns: the URI.
    """
    from food_recognition.azure.jobs.build import model_package_uri

    return model_package_uri(job_name)


def attach_kubernetes_compute(
    ml_client: Any,
    name: str,
    cluster_resource_id: str,
    *,
    namespace: str = "azureml",
) -> Any:
    """Attach an AKS (or Arc Kubernetes) cluster to the workspace as Kubernetes compute.

    The cluster must already carry the Azure ML extension (``az k8s-extension
    create --extension-type Microsoft.AzureML.Kubernetes ... --config
    enableInference=True``; see the deployment guide).

    :param ml_client: an ``MLClient`` for the workspace.
    :param name: the compute's name in the workspace.
    :param cluster_resource_id: ``/subscriptions/.../managedClusters/NAME``.
    :param namespace: the Kubernetes namespace the endpoints run in.
    :returns: the attached ``KubernetesCompute``.
    :raises DeployError: the resource ID is not a Kubernetes cluster's.
    """
    from azure.ai.ml.entities import KubernetesCompute

    kinds = ("/managedclusters/", "/connectedclusters/")
    if not cluster_resource_id.startswith("/subscriptions/") or not any(
        kind in cluster_resource_id.lower() for kind in kinds
    ):
        raise DeployError(
            f"{cluster_resource_id!r} is not an AKS or Arc cluster resource ID "
            "(/subscriptions/SUB/resourceGroups/RG/providers/"
            "Microsoft.ContainerService/managedClusters/NAME)"
        )
    compute = KubernetesCompute(name=name, resource_id=cluster_resource_id, namespace=namespace)
    return ml_client.compute.begin_attach(compute).result()


def deploy(
    ml_client: Any,
    endpoint: EndpointSpec,
    deployment: DeploymentSpec,
    *,
    code_dir: str | Path,
    traffic_percent: int | None = None,
    environment: Any = None,
    model_name: str = "food-recognition",
) -> Any:
    """Create or update the endpoint and the deployment, then route traffic to it.

    The first deployment of an endpoint gets all traffic; a later one (green)
    gets ``traffic_percent`` (0 by default: test it with the
    ``azureml-model-deployment`` header, then :func:`shift_traffic`). A job's
    package (``azureml://jobs/...``) is registered as ``model_name`` first, as
    Azure ML deploys registered models, not job outputs.

    :param ml_client: an ``MLClient`` for the workspace.
    :param endpoint: the endpoint.
    :param deployment: the deployment.
    :param code_dir: where to stage the code (:func:`stage_code`).
    :param traffic_percent: share of traffic the new deployment gets.
    :param environment: an SDK ``Environment`` to use instead of the spec's or the default.
    :param model_name: the name a job output is registered under.
    :returns: the endpoint as Azure ML reports it after the traffic update.
    :raises DeployError: the deployment names another endpoint, or asks for
        resources its instance type cannot give; nothing is sent then.
    """
    from azure.core.exceptions import ResourceNotFoundError

    _same_endpoint(endpoint, deployment)
    check_resources(deployment, kind=endpoint.kind)
    if deployment.model.startswith(JOB_OUTPUT_PREFIX):
        model = register_model(ml_client, deployment.model, name=model_name)
        deployment = attrs.evolve(deployment, model=f"azureml:{model.name}:{model.version}")
    try:
        existing = ml_client.online_endpoints.get(endpoint.name)
    except ResourceNotFoundError:
        existing = None
    if existing is None:
        ml_client.online_endpoints.begin_create_or_update(build_endpoint(endpoint)).result()
    code = stage_code(
        code_dir,
        plugins=package_plugins(deployment.model),
        from_index=deployment.plugins_from_index,
    )
    with tempfile.TemporaryDirectory(prefix="food-recognition-env-") as tmp:
        # The build context is uploaded by the create call, so it may go afterwards.
        if environment is None:
            environment = deployment_environment(deployment, code, Path(tmp) / ENVIRONMENT_DIR)
        entity = build_deployment(
            deployment, kind=endpoint.kind, code_dir=code, environment=environment
        )
        ml_client.online_deployments.begin_create_or_update(entity).result()
    current = dict((existing.traffic if existing is not None else None) or {})
    if not any(current.values()):
        new = {deployment.name: 100}
    else:
        new = plan_traffic_shift(current, deployment.name, traffic_percent or 0)
    return set_traffic(ml_client, endpoint.name, new)


def plan_traffic_shift(current: Mapping[str, int], to: str, percent: int) -> dict[str, int]:
    """The traffic after giving ``to`` exactly ``percent``, the rest kept in proportion.

    >>> plan_traffic_shift({"blue": 90, "green": 10}, "green", 100)
    {'blue': 0, 'green': 100}

    :param current: deployment name to percent (summing to 100, or all 0).
    :param to: the deployment to move traffic to.
    :param percent: its new share, 0 to 100.
    :returns: the new split, summing to 100.
    :raises DeployError: a percent out of range, or nothing left to take traffic.
    """
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
        raise DeployError(f"percent={percent!r} must be an integer from 0 to 100")
    others = {name: share for name, share in current.items() if name != to}
    if not others:
        if percent != 100:
            raise DeployError(f"{to!r} is the only deployment; it must take 100% of the traffic")
        return {to: 100}
    rest = 100 - percent
    total = sum(others.values())
    if total == 0:
        shares = {name: rest // len(others) for name in others}
    else:
        shares = {name: rest * share // total for name, share in others.items()}
    # Integer rounding leaves a remainder; give it to the largest other deployment.
    largest = max(others, key=lambda name: (others[name], name))
    shares[largest] += rest - sum(shares.values())
    result = {**shares, to: percent}
    return {name: result[name] for name in sorted(result)}


def set_traffic(ml_client: Any, endpoint_name: str, traffic: Mapping[str, int]) -> Any:
    """Set an endpoint's traffic split.

    :param ml_client: an ``MLClient``.
    :param endpoint_name: the endpoint.
    :param traffic: deployment name to percent, summing to 100.
    :returns: the updated endpoint.
    :raises DeployError: percentages that do not sum to 100.
    """
    if sum(traffic.values()) != 100 or any(v < 0 for v in traffic.values()):
        raise DeployError(f"traffic {dict(traffic)} must be percentages summing to 100")
    endpoint = ml_client.online_endpoints.get(endpoint_name)
    endpoint.traffic = dict(traffic)
    return ml_client.online_endpoints.begin_create_or_update(endpoint).result()


def shift_traffic(ml_client: Any, endpoint_name: str, to: str, percent: int) -> Any:
    """Blue/green: give deployment ``to`` ``percent`` of the traffic, the rest in proportion.

    :param ml_client: an ``MLClient``.
    :param endpoint_name: the endpoint.
    :param to: the deployment (it must exist).
    :param percent: its new share.
    :returns: the updated endpoint.
    :raises DeployError: ``to`` is not a deployment of the endpoint.
    """
    names = {d.name for d in ml_client.online_deployments.list(endpoint_name)}
    if to not in names:
        raise DeployError(
            f"endpoint {endpoint_name!r} has no deployment {to!r}; it has: "
            f"{', '.join(sorted(names)) or 'none'}"
        )
    endpoint = ml_client.online_endpoints.get(endpoint_name)
    current = {name: int((endpoint.traffic or {}).get(name, 0)) for name in names}
    return set_traffic(ml_client, endpoint_name, plan_traffic_shift(current, to, percent))


def get_logs(
    ml_client: Any,
    endpoint_name: str,
    deployment_name: str,
    *,
    lines: int = 100,
    init_container: bool = False,
) -> str:
    """The last lines of a deployment's log (the inference server's, or its storage initializer's).

    :param ml_client: an ``MLClient``.
    :param endpoint_name: the endpoint.
    :param deployment_name: the deployment.
    :param lines: how many lines.
    :param init_container: the storage initializer's log (model download problems).
    :returns: the log text.
    """
    return str(
        ml_client.online_deployments.get_logs(
            deployment_name,
            endpoint_name,
            lines,
            container_type="storage-initializer" if init_container else None,
        )
    )


def scoring_client(
    ml_client: Any,
    endpoint_name: str,
    *,
    deployment: str | None = None,
    credential: Any = None,
    timeout_s: float = 60.0,
) -> Any:
    """A :class:`~food_recognition.serving.client.ScoringClient` for an endpoint.

    Fetches the scoring URI and, by the endpoint's auth mode, its primary key,
    an Azure ML token, or an Azure AD token (``credential``, by default
    ``DefaultAzureCredential``). Nothing is stored.

    :param ml_client: an ``MLClient``.
    :param endpoint_name: the endpoint.
    :param deployment: pin requests to one deployment.
    :param credential: an Azure credential for ``aad_token`` endpoints.
    :param timeout_s: seconds to wait per request.
    :returns: the client.
    """
    from food_recognition.serving.client import ScoringClient

    endpoint = ml_client.online_endpoints.get(endpoint_name)
    key = token = None
    if endpoint.auth_mode == "aad_token":
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        token = credential.get_token("https://ml.azure.com/.default").token
    else:
        keys = ml_client.online_endpoints.get_keys(endpoint_name)
        key = getattr(keys, "primary_key", None)
        token = None if key else getattr(keys, "access_token", None)
    return ScoringClient(
        endpoint.scoring_uri, key=key, token=token, deployment=deployment, timeout_s=timeout_s
    )


def invoke(
    ml_client: Any,
    endpoint_name: str,
    image: bytes,
    *,
    deployment: str | None = None,
    **options: Any,
) -> Any:
    """Label one image with an endpoint (posts the bytes; see :func:`scoring_client`).

    :param ml_client: an ``MLClient``.
    :param endpoint_name: the endpoint.
    :param image: JPEG, PNG or WebP bytes.
    :param deployment: pin the request to one deployment.
    :param options: ``top_k``, ``tta``, ``tta_threshold``, ``all_probabilities``.
    :returns: a :class:`~food_recognition.serving.client.Prediction`.
    """
    client = scoring_client(ml_client, endpoint_name, deployment=deployment)
    try:
        return client.predict(image, **options)
    finally:
        client.close()


def delete(ml_client: Any, endpoint_name: str, deployment_name: str | None = None) -> None:
    """Delete a deployment (it must carry no traffic) or, without one, the whole endpoint.

    :param ml_client: an ``MLClient``.
    :param endpoint_name: the endpoint.
    :param deployment_name: the deployment; ``None`` deletes the endpoint and all of them.
    :raises DeployError: the deployment still takes traffic.
    """
    if deployment_name is None:
        ml_client.online_endpoints.begin_delete(name=endpoint_name).result()
        return
    endpoint = ml_client.online_endpoints.get(endpoint_name)
    share = int((endpoint.traffic or {}).get(deployment_name, 0))
    if share:
        raise DeployError(
            f"deployment {deployment_name!r} takes {share}% of the traffic; shift it away first "
            f"(food-recognition azure traffic {endpoint_name} OTHER=100)"
        )
    ml_client.online_deployments.begin_delete(
        name=deployment_name, endpoint_name=endpoint_name
    ).result()


def wait_for(condition: Callable[[], bool], *, timeout_s: float, interval_s: float = 5.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passes.

    :param condition: what to wait for.
    :param timeout_s: the deadline.
    :param interval_s: seconds between polls.
    :returns: whether it held.
    """
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)
    return True


# -- helpers ------------------------------------------------------------------------


def _model_reference(model: str) -> Any:
    if model.startswith(JOB_OUTPUT_PREFIX):
        # The SDK resolves a deployment's model as NAME:VERSION and refuses a path
        # (azure/ai/ml/_utils/_arm_id_utils.py parse_name_label: "Could not parse ...").
        raise DeployError(
            f"a deployment cannot take the job output {model}; register it first "
            f"(food-recognition azure register {model}) and deploy azureml:NAME:VERSION"
        )
    if model.startswith(("azureml:", "azureml://")):
        return model
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Model

    package = Path(model)
    _check_package(package)
    return Model(path=str(package.resolve()), type=AssetTypes.CUSTOM_MODEL, name="food-recognition")


def _check_package(path: Path) -> None:
    from food_recognition.package import PackageError, check_package

    try:
        check_package(path)
    except PackageError as error:
        raise DeployError(str(error)) from error


def _same_endpoint(endpoint: EndpointSpec, deployment: DeploymentSpec) -> None:
    if deployment.endpoint_name != endpoint.name:
        raise DeployError(
            f"deployment {deployment.name!r} names endpoint {deployment.endpoint_name!r}, "
            f"not {endpoint.name!r}"
        )


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _write(path: Path, schema: str, document: Mapping[str, Any]) -> None:
    text = yaml.safe_dump({"$schema": schema, **document}, sort_keys=False)
    path.write_text(text, encoding="utf-8")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
