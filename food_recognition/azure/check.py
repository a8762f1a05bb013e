"""Preflight: check an Azure ML workspace before a job or a deployment spends GPU hours.

What no offline test can prove (the cluster, its identity, its quota, the
attached Kubernetes cluster's instance types) is checked here against the
user's own workspace, through the same ``MLClient`` the run will use:

- training (:func:`check_training`): the compute exists, is an Azure ML
  cluster of a current (non-retired) GPU size offered in the region, and has a
  managed identity; the data's datastore exists and is identity-based (the
  cluster's identity then needs *Storage Blob Data Reader* on the account);
  the subscription's quota for the size's VM family has room for the job's
  nodes; the environment's image and requirements are the pinned ones;
- deployment (:func:`check_deployment`): for an AKS endpoint, the compute is
  attached as *Kubernetes* (not the v1 AKS type), its instance type exists and
  the deployment's requests and limits fit it; the inference environment's
  image and requirements are the pinned ones.

Each failed check is one :class:`Finding` whose message says what is wrong
and the fix; ``food-recognition azure check`` prints them and exits 2, and
``azure submit`` and ``azure deploy`` run the same checks first (``--no-check``
skips them).

>>> report = CheckReport((Finding("compute", False, "no compute 'gpu'; create it"),))
>>> report.ok, report.lines()
(False, ["FAIL compute: no compute 'gpu'; create it"])
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from food_recognition.azure.deploy import (
    DEFAULT_INSTANCE_TYPE,
    KNOWN_INSTANCE_TYPES,
    DeployError,
    DeploymentSpec,
    EndpointSpec,
    ResourceLimits,
    check_resources,
)
from food_recognition.azure.jobs.vm_sizes import GPU_SIZES, retired_series
from food_recognition.errors import CloudError

__all__ = [
    "CURRENT_GPU_SIZES",
    "CheckReport",
    "Finding",
    "PreflightError",
    "check_deployment",
    "check_training",
]

#: Current GPU sizes a fix suggests (the smallest of each family: T4, A100, H100).
CURRENT_GPU_SIZES = tuple(sizes[0] for sizes in GPU_SIZES.values())

_DATASTORE_PATH = re.compile(r"^azureml://datastores/(?P<name>[^/]+)/paths/(?P<path>.*)$")
_BLOB_URL = re.compile(
    r"^https://(?P<account>[a-z0-9]+)\.blob\.core\.windows\.net/(?P<container>[^/?]+)(?P<rest>[^?]*)"
    r"(?P<query>\?.*)?$"
)
_STORAGE_URI = re.compile(
    r"^(?:wasbs|abfss)://(?P<container>[^@/]+)@(?P<account>[a-z0-9]+)\.(?:blob|dfs)\.core\.windows\.net"
)
_ROLE = "Storage Blob Data Reader"


class PreflightError(CloudError, ValueError):
    """One or more preflight checks failed; the message has one line per failure."""

    def __init__(self, report: CheckReport) -> None:
        super().__init__("\n".join(f.message for f in report.failures))
        self.report = report


@attrs.define(frozen=True)
class Finding:
    """The outcome of one check.

    :param check: a short name (``compute``, ``vm-size``, ``identity``, ``data``,
        ``quota``, ``kubernetes``, ``instance-type``, ``resources``, ``image``,
        ``requirements``).
    :param ok: whether it passed.
    :param message: one line: what was found, and for a failure the fix.
    """

    check: str
    ok: bool
    message: str

    def line(self) -> str:
        """``ok CHECK: MESSAGE`` or ``FAIL CHECK: MESSAGE``."""
        return f"{'ok' if self.ok else 'FAIL'} {self.check}: {self.message}"


@attrs.define(frozen=True)
class CheckReport:
    """Every finding of a preflight, in the order checked.

    :param findings: the findings.
    """

    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(f.ok for f in self.findings)

    @property
    def failures(self) -> tuple[Finding, ...]:
        """The failed checks."""
        return tuple(f for f in self.findings if not f.ok)

    def lines(self) -> list[str]:
        """One line per finding (:meth:`Finding.line`)."""
        return [f.line() for f in self.findings]

    def raise_for_failures(self) -> None:
        """Raise :class:`PreflightError` if any check failed.

        :raises PreflightError: naming each failure.
        """
        if not self.ok:
            raise PreflightError(self)


def check_training(
    ml_client: Any,
    *,
    compute: str,
    data: str | None = None,
    nodes: int = 1,
    environment: Any = None,
) -> CheckReport:
    """Check that a training job on ``compute`` can start and read its data.

    :param ml_client: an ``MLClient`` for the workspace.
    :param compute: the cluster's name.
    :param data: the job's data location (``azureml://datastores/...``,
        ``https://ACCOUNT.blob.core.windows.net/...``, ``wasbs://``/``abfss://``;
        a local folder or a data asset is not checked).
    :param nodes: the nodes the job asks for (the quota must hold them).
    :param environment: the job's environment: ``None`` (the library's), an
        ``azureml:NAME:VERSION`` reference or an SDK ``Environment``.
    :returns: the report.
    """
    from food_recognition.azure.environment import DEFAULT_IMAGE, conda_spec

    findings: list[Finding] = []
    cluster = _get_compute(ml_client, compute, findings, _create_cluster_fix(compute))
    if cluster is not None:
        findings.extend(_check_cluster(ml_client, cluster, nodes))
    if data:
        findings.extend(_check_data(ml_client, str(data), cluster))
    findings.extend(_check_environment(ml_client, environment, DEFAULT_IMAGE, conda_spec))
    return CheckReport(tuple(findings))


def check_deployment(
    ml_client: Any,
    endpoint: EndpointSpec,
    deployment: DeploymentSpec,
    *,
    environment: Any = None,
) -> CheckReport:
    """Check that a deployment can be created: its Kubernetes compute, instance type, environment.

    :param ml_client: an ``MLClient`` for the workspace.
    :param endpoint: the endpoint (its ``compute`` is the attached cluster; a
        managed endpoint has none to check).
    :param deployment: the deployment.
    :param environment: the deployment's environment, as for :func:`check_training`;
        ``None`` uses ``deployment.environment`` or the library's inference environment.
    :returns: the report.
    """
    from food_recognition.azure.deploy import DEFAULT_INFERENCE_IMAGE, inference_conda

    findings: list[Finding] = []
    if endpoint.compute is not None:
        findings.extend(_check_kubernetes(ml_client, endpoint.compute, deployment))
    else:
        try:
            check_resources(deployment, kind="managed")
        except DeployError as error:
            findings.append(Finding("resources", False, str(error)))
    env = environment if environment is not None else deployment.environment
    findings.extend(
        _check_environment(
            ml_client, env, DEFAULT_INFERENCE_IMAGE, lambda: inference_conda(), what="inference"
        )
    )
    return CheckReport(tuple(findings))


# -- training compute ----------------------------------------------------------------


def _get_compute(ml_client: Any, name: str, findings: list[Finding], fix: str) -> Any:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return ml_client.compute.get(name)
    except ResourceNotFoundError:
        workspace = getattr(ml_client, "workspace_name", None) or "the workspace"
        findings.append(Finding("compute", False, f"no compute {name!r} in {workspace}; {fix}"))
        return None


def _create_cluster_fix(name: str) -> str:
    return (
        f"create it: az ml compute create --name {name} --type amlcompute "
        f"--size {CURRENT_GPU_SIZES[0]} --min-instances 0 --max-instances 1 "
        "--identity-type SystemAssigned"
    )


def _check_cluster(ml_client: Any, cluster: Any, nodes: int) -> list[Finding]:
    name = cluster.name
    kind = str(getattr(cluster, "type", "") or "").lower()
    if kind != "amlcompute":
        return [
            Finding(
                "compute",
                False,
                f"compute {name!r} is {kind or 'of an unknown type'}, not an Azure ML cluster "
                f"(amlcompute); train on a cluster: {_create_cluster_fix('gpu-cluster')}",
            )
        ]
    findings = [Finding("compute", True, f"cluster {name!r} exists")]
    size_name = str(cluster.size or "")
    retired = retired_series(size_name)
    size = _find_size(ml_client, size_name)
    if retired is not None:
        findings.append(
            Finding(
                "vm-size",
                False,
                f"cluster {name!r} uses {size_name}, retired on {retired[1]} "
                f"(the {retired[0]} series, {retired[2]}); "
                f"create a cluster of a current GPU size ({', '.join(CURRENT_GPU_SIZES)})",
            )
        )
    elif size is None:
        findings.append(
            Finding(
                "vm-size",
                False,
                f"cluster {name!r} uses {size_name}, which the workspace's region does not offer; "
                f"create a cluster of a size `az ml compute list-sizes` lists",
            )
        )
    elif not int(getattr(size, "gpus", 0) or 0):
        findings.append(
            Finding(
                "vm-size",
                False,
                f"cluster {name!r} uses {size_name}, which has no GPU; create a cluster of a GPU "
                f"size ({', '.join(CURRENT_GPU_SIZES)})",
            )
        )
    else:
        findings.append(Finding("vm-size", True, f"{size_name} is a current GPU size"))
    findings.append(_check_identity(cluster))
    if findings[-2].ok and size is not None:  # quota for a size to be replaced is moot
        findings.append(_check_quota(ml_client, cluster, size, nodes))
    return findings


def _find_size(ml_client: Any, size_name: str) -> Any:
    for size in ml_client.compute.list_sizes():
        if str(size.name).lower() == size_name.lower():
            return size
    return None


def _identity_principal(cluster: Any) -> tuple[str | None, str | None]:
    identity = getattr(cluster, "identity", None)
    kind = str(getattr(identity, "type", "") or "").lower() if identity is not None else ""
    if not kind or kind == "none":
        return None, None
    principal = getattr(identity, "principal_id", None)
    if principal is None:
        users = list(getattr(identity, "user_assigned_identities", None) or [])
        principal = getattr(users[0], "principal_id", None) if users else None
    return kind, principal


def _check_identity(cluster: Any) -> Finding:
    kind, _ = _identity_principal(cluster)
    if kind is None:
        return Finding(
            "identity",
            False,
            f"cluster {cluster.name!r} has no managed identity, so it cannot read "
            f"identity-based datastores; give it one: az ml compute update --name {cluster.name} "
            "--identity-type SystemAssigned",
        )
    return Finding("identity", True, f"cluster {cluster.name!r} has a {kind} identity")


def _check_quota(ml_client: Any, cluster: Any, size: Any, nodes: int) -> Finding:
    """Room for ``nodes`` nodes of ``size`` in the quota the cluster's tier draws on.

    ``list_usage()`` lists the regional totals, then per VM family the
    subscription's entry and the same family counted per workspace and per
    compute (their ids are under ``/workspaces/``), each family once as
    *Dedicated* and once as *LowPriority* (limit -1). A dedicated cluster
    needs room in its family and in the regional dedicated total; a
    low-priority one draws only on the regional low-priority total
    (https://learn.microsoft.com/en-us/azure/machine-learning/how-to-manage-quotas).
    """
    family = str(getattr(size, "family", "") or "")
    per_node = int(_field(size, "v_cp_us", "vCPUs") or 0)
    needed = per_node * nodes
    usages = list(ml_client.compute.list_usage())
    if "low" in str(getattr(cluster, "tier", "") or "").lower():
        total = _regional_usage(usages, "lowpriority")
        if total is None:  # nothing to compare with: say so rather than guess
            return Finding("quota", True, "no regional low-priority quota listed; not checked")
        return _room(total, needed, f"{size.name} (low-priority)", nodes, "low-priority")
    entry = next((u for u in usages if _is_family_dedicated(u, family)), None)
    if entry is None:
        return Finding(
            "quota",
            False,
            f"the subscription has no quota for family {family} ({size.name}); request it in the "
            "Azure portal (Quotas > Machine learning)",
        )
    found = _room(entry, needed, f"{size.name}", nodes, f"family {family}")
    total = _regional_usage(usages, "dedicated")
    if not found.ok or total is None:
        return found
    regional = _room(total, needed, f"{size.name}", nodes, "Total Cluster Dedicated Regional vCPUs")
    return found if regional.ok else regional


def _norm(text: Any) -> str:
    return re.sub(r"[\s_]", "", str(text or "")).lower()


def _usage_names(usage: Any) -> tuple[str, str]:
    name = _field(usage, "name")
    value = _field(name, "value") if name is not None else None
    localized = _field(name, "localized_value") if name is not None else None
    return _norm(value), _norm(localized or value)


def _subscription_wide(usage: Any) -> bool:
    # Per-workspace and per-compute entries repeat a family with only their own use.
    return "/workspaces/" not in str(_field(usage, "id") or "").lower()


def _is_family_dedicated(usage: Any, family: str) -> bool:
    value, localized = _usage_names(usage)
    wanted = _norm(family)
    named = value == wanted or localized.startswith(wanted + "cluster")
    return (
        named
        and "lowpriority" not in localized
        and _subscription_wide(usage)
        and int(_field(usage, "limit") or 0) >= 0
    )


def _regional_usage(usages: list[Any], tier: str) -> Any:
    kind = "lowprioritycores" if tier == "lowpriority" else "dedicatedcores"
    for usage in usages:
        _, localized = _usage_names(usage)
        typed = kind in _norm(_field(usage, "type"))
        named = "regional" in localized and tier in localized
        if (typed or named) and _subscription_wide(usage):
            return usage
    return None


def _room(usage: Any, needed: int, what: str, nodes: int, quota: str) -> Finding:
    limit = int(_field(usage, "limit") or 0)
    used = int(_field(usage, "current_value", "currentValue") or 0)
    if limit - used < needed:
        return Finding(
            "quota",
            False,
            f"{what} needs {needed} vCPUs of {quota} for {nodes} node(s); "
            f"the subscription has {limit - used} free ({used} of {limit} in use): request "
            "more in the Azure portal (Quotas > Machine learning) or use a family with quota",
        )
    label = quota.removeprefix("family ")
    return Finding("quota", True, f"{limit - used} vCPUs of {label} free, {needed} needed")


def _field(value: Any, *names: str) -> Any:
    """The first of ``names`` that ``value`` (an object or a mapping) has, not ``None``.

    azure-ai-ml 1.35 fills ``Usage`` and ``VmSize`` from the REST model's
    ``as_dict()``, which keeps the wire names (``currentValue``, ``vCPUs``)
    beside the Python ones it leaves ``None`` (``entities/_compute/_usage.py``),
    and a Kubernetes compute's ``properties`` is a plain dict.
    """
    for name in names:
        camel = re.sub(r"_(\w)", lambda m: m[1].upper(), name)
        for key in dict.fromkeys((name, camel)):
            found = value.get(key) if isinstance(value, Mapping) else getattr(value, key, None)
            if found is not None:
                return found
    return None


# -- data --------------------------------------------------------------------------


def _check_data(ml_client: Any, data: str, cluster: Any) -> list[Finding]:
    _, principal = _identity_principal(cluster) if cluster is not None else (None, None)
    match = _DATASTORE_PATH.match(data)
    if match:
        return [_check_datastore(ml_client, match["name"], principal)]
    blob = _BLOB_URL.match(data)
    if blob:
        if blob["query"]:
            return [
                Finding(
                    "data",
                    False,
                    "the data URL carries a query string (a SAS token?), which would be stored in "
                    "the job record; drop it and let the cluster's identity read the container",
                )
            ]
        for store in ml_client.datastores.list():
            if (getattr(store, "account_name", None), getattr(store, "container_name", None)) == (
                blob["account"],
                blob["container"],
            ):
                return [_check_datastore(ml_client, store.name, principal)]
        return [
            Finding(
                "data",
                True,
                f"no datastore for {blob['account']}/{blob['container']} yet (submit registers an "
                f"identity-based one); {_role_fix(blob['account'], principal)}",
            )
        ]
    storage = _STORAGE_URI.match(data)
    if storage:
        return [Finding("data", True, _role_fix(storage["account"], principal))]
    return []


def _check_datastore(ml_client: Any, name: str, principal: str | None) -> Finding:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        store = ml_client.datastores.get(name)
    except ResourceNotFoundError:
        return Finding(
            "data",
            False,
            f"datastore {name!r} does not exist; register it for the container, identity-based "
            "(no credentials): az ml datastore create --file datastore.yml",
        )
    credentials = getattr(store, "credentials", None)
    kind = type(credentials).__name__ if credentials is not None else "NoneCredentialConfiguration"
    if kind != "NoneCredentialConfiguration":
        # Azure ML reads such a datastore with the key or SAS the workspace keeps
        # (workspaceblobstore is one), whatever the job's identity: the job works,
        # so this is a note, not a failure.
        return Finding(
            "data",
            True,
            f"datastore {name!r} reads with credentials stored in the workspace ({kind}), not "
            "the cluster's identity; that works, and an identity-based datastore (no "
            "credentials) would keep the key out of the workspace",
        )
    account = getattr(store, "account_name", None) or "ACCOUNT"
    return Finding(
        "data", True, f"datastore {name!r} is identity-based; {_role_fix(account, principal)}"
    )


def _role_fix(account: str, principal: str | None) -> str:
    assignee = principal or "<the cluster's principal id>"
    return (
        f"the cluster's identity needs {_ROLE} on {account}: az role assignment create "
        f"--assignee-object-id {assignee} --assignee-principal-type ServicePrincipal "
        f'--role "{_ROLE}" --scope $(az storage account show --name {account} --query id -o tsv)'
    )


# -- Kubernetes --------------------------------------------------------------------


def _check_kubernetes(ml_client: Any, name: str, deployment: DeploymentSpec) -> list[Finding]:
    findings: list[Finding] = []
    fix = (
        f"attach the AKS cluster (with the Azure ML extension): food-recognition azure "
        f"attach-aks {name} CLUSTER_RESOURCE_ID"
    )
    compute = _get_compute(ml_client, name, findings, fix)
    if compute is None:
        return findings
    kind = str(getattr(compute, "type", "") or "").lower()
    if kind != "kubernetes":
        # The SDK loads the v1 "AKS" compute type as UnsupportedCompute.
        cluster = str(getattr(compute, "resource_id", "") or "").lower()
        if kind == "aks" or ("unsupported" in kind and "/managedclusters/" in cluster):
            kind = "AKS compute (the v1 way, which v2 online endpoints refuse)"
        findings.append(
            Finding(
                "kubernetes",
                False,
                f"compute {name!r} is attached as {kind or 'an unknown type'}, not as "
                f"Kubernetes; detach it and {fix}",
            )
        )
        return findings
    state_value = getattr(compute, "provisioning_state", None)
    state = str(getattr(state_value, "value", state_value) or "")
    if state and state.lower() != "succeeded":
        findings.append(
            Finding(
                "kubernetes",
                False,
                f"compute {name!r} is {state}; check the cluster's Azure ML extension "
                "(az k8s-extension show --name azureml ...) and attach it again",
            )
        )
        return findings
    findings.append(Finding("kubernetes", True, f"{name!r} is attached as Kubernetes compute"))
    instance_types = _instance_types(compute)
    wanted = deployment.instance_type or DEFAULT_INSTANCE_TYPE
    limits = instance_types.get(wanted) or KNOWN_INSTANCE_TYPES.get(wanted)
    if limits is None and wanted not in instance_types:
        have = sorted({*instance_types, DEFAULT_INSTANCE_TYPE})
        findings.append(
            Finding(
                "instance-type",
                False,
                f"compute {name!r} has no instance type {wanted!r} (it has: {', '.join(have)}); "
                "create it on the cluster (kubectl apply -f instance-type.yaml) or pick one",
            )
        )
        return findings
    findings.append(Finding("instance-type", True, f"{name!r} has instance type {wanted!r}"))
    try:
        check_resources(
            deployment, kind="kubernetes", instance_types={wanted: limits} if limits else {}
        )
    except DeployError as error:
        findings.append(Finding("resources", False, str(error)))
    else:
        findings.append(Finding("resources", True, f"the deployment fits {wanted!r}"))
    return findings


def _instance_types(compute: Any) -> dict[str, ResourceLimits | None]:
    properties = getattr(compute, "properties", None) or {}
    declared = _field(properties, "instance_types") or {}
    result: dict[str, ResourceLimits | None] = {}
    for name, schema in dict(declared).items():
        resources = _field(schema, "resources") or {}
        limits = _field(resources, "limits") or {}
        cpu, memory = _field(limits, "cpu"), _field(limits, "memory")
        result[name] = ResourceLimits(str(cpu), str(memory)) if cpu and memory else None
    return result


# -- environments ------------------------------------------------------------------


def _check_environment(
    ml_client: Any,
    environment: Any,
    image: str,
    conda: Any,
    *,
    what: str = "training",
) -> Iterable[Finding]:
    if environment is None:
        return [Finding("image", True, f"the library's {what} environment ({image})")]
    entity = environment
    label = getattr(environment, "name", None) or "the given environment"
    if isinstance(environment, str):
        label = environment
        name, _, version = environment.removeprefix("azureml:").partition(":")
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = ml_client.environments.get(name, version=version or None, label=None)
        except ResourceNotFoundError:
            return [
                Finding(
                    "image",
                    False,
                    f"environment {environment} does not exist; drop --environment to use the "
                    f"library's {what} environment, or register it",
                )
            ]
    findings = []
    used = getattr(entity, "image", None)
    if used != image:
        findings.append(
            Finding(
                "image",
                False,
                f"environment {label} uses image {used}, not the pinned {image}; drop "
                f"--environment to use the library's {what} environment",
            )
        )
    else:
        findings.append(Finding("image", True, f"environment {label} uses {image}"))
    expected = _pip(conda())
    given = _pip(getattr(entity, "conda_file", None))
    if given != expected:
        missing = sorted(set(expected) - set(given))
        findings.append(
            Finding(
                "requirements",
                False,
                f"environment {label}'s requirements are not the locked ones "
                f"({len(missing)} differ, e.g. {', '.join(missing[:3]) or 'extra lines'}); drop "
                f"--environment to use the library's {what} environment",
            )
        )
    else:
        findings.append(Finding("requirements", True, f"environment {label} is locked"))
    return findings


def _pip(conda: Any) -> list[str]:
    import yaml

    if isinstance(conda, str):
        conda = yaml.safe_load(conda)
    for item in (conda or {}).get("dependencies", []) if isinstance(conda, Mapping) else []:
        if isinstance(item, Mapping) and "pip" in item:
            return [str(line) for line in item["pip"]]
    return []
