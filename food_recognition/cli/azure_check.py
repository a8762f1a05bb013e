"""``food-recognition azure check``: preflight the workspace before GPU hours are spent.

The checks are :mod:`food_recognition.azure.check`'s; ``azure submit`` and
``azure deploy`` run them too (:func:`preflight`) unless given ``--no-check``.
Each finding is one line; a failed one says what is wrong and the fix, and the
command exits 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from food_recognition.cli import CLIError

__all__ = ["preflight", "preflight_training", "register"]


def register(subparsers: Any) -> None:
    """Add ``check`` to the ``azure`` group."""
    check = subparsers.add_parser(
        "check",
        help="check the workspace before a job or a deployment (compute, identity, quota, AKS)",
        description="Check an Azure ML workspace the way a careful engineer would before "
        "spending GPU hours. Training (--compute): the cluster exists, is a current GPU size "
        "with a managed identity and quota for its VM family, the data's datastore is "
        "identity-based, the environment is the pinned one. Deployment (--aks-compute): the "
        "cluster is attached as Kubernetes compute, the instance type exists and the "
        "deployment's requests and limits fit it. Prints one line per check; exit code 2 when "
        "any fails.",
    )
    check.add_argument("--compute", help="the training cluster (AmlCompute) to check")
    check.add_argument("--data", metavar="LOCATION", help="the training data location")
    check.add_argument("--nodes", type=int, default=1, help="nodes the job asks for (quota)")
    check.add_argument("--environment", help="the training environment azureml:NAME:VERSION")
    check.add_argument("--aks-compute", help="the attached Kubernetes compute to deploy to")
    check.add_argument(
        "--instance-type", help="the deployment's instance type (default: defaultinstancetype)"
    )
    check.add_argument("--cpu", help="the deployment's CPU request")
    check.add_argument("--memory", help="the deployment's memory request")
    check.add_argument("--cpu-limit", help="the deployment's CPU limit")
    check.add_argument("--memory-limit", help="the deployment's memory limit")
    check.add_argument(
        "--inference-environment", help="the deployment's environment azureml:NAME:VERSION"
    )
    group = check.add_argument_group("workspace (or AZURE_SUBSCRIPTION_ID, ... or config.json)")
    group.add_argument("--subscription", help="subscription id")
    group.add_argument("--resource-group", help="resource group")
    group.add_argument("--workspace", help="workspace name")
    group.add_argument("--workspace-config", metavar="FILE", help="a config.json")
    check.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Run the checks asked for and print one line per finding."""
    from food_recognition.azure import check as preflight_checks
    from food_recognition.azure.deploy import DeployError, DeploymentSpec, EndpointSpec

    if not args.compute and not args.aks_compute:
        raise CLIError(
            "name what to check: --compute CLUSTER (training), --aks-compute NAME "
            "(deployment), or both"
        )
    try:
        deployment = None
        if args.aks_compute:
            deployment = DeploymentSpec(
                endpoint_name="preflight",
                model="azureml:preflight:1",
                instance_type=args.instance_type,
                cpu_request=args.cpu,
                memory_request=args.memory,
                cpu_limit=args.cpu_limit,
                memory_limit=args.memory_limit,
            )
    except DeployError as error:
        raise CLIError(str(error)) from None
    ml_client = _ml_client(args)
    findings: list[Any] = []
    if args.compute:
        findings.extend(
            preflight_checks.check_training(
                ml_client,
                compute=args.compute,
                data=args.data,
                nodes=args.nodes,
                environment=args.environment,
            ).findings
        )
    if deployment is not None:
        endpoint = EndpointSpec(name="preflight", compute=args.aks_compute)
        findings.extend(
            preflight_checks.check_deployment(
                ml_client, endpoint, deployment, environment=args.inference_environment
            ).findings
        )
    report = preflight_checks.CheckReport(tuple(findings))
    for finding in report.findings:
        print(finding.line(), file=sys.stdout if finding.ok else sys.stderr)
    return 0 if report.ok else 2


def preflight(report: Any) -> None:
    """Print a report's failures, one line each, and stop with exit code 2 if there are any.

    :param report: a :class:`~food_recognition.azure.check.CheckReport`.
    :raises CLIError: when a check failed.
    """
    if report.ok:
        return
    for finding in report.failures:
        print(finding.line(), file=sys.stderr)
    raise CLIError(
        f"{len(report.failures)} preflight check(s) failed (above); fix them, or pass --no-check"
    )


def preflight_training(ml_client: Any, job: Any) -> None:
    """:func:`preflight` a training job before it is submitted.

    :param ml_client: the target's ``MLClient``.
    :param job: the :class:`~food_recognition.compute.TrainingJob`.
    :raises CLIError: when a check failed.
    """
    from food_recognition.azure.check import check_training

    data = job.data.uri if job.data is not None else None
    preflight(
        check_training(
            ml_client,
            compute=job.compute,
            data=data,
            nodes=job.nodes,
            environment=job.environment,
        )
    )


def _ml_client(args: argparse.Namespace) -> Any:
    from food_recognition.azure.workspace import WorkspaceError, get_ml_client

    try:
        return get_ml_client(
            subscription_id=args.subscription,
            resource_group=args.resource_group,
            workspace_name=args.workspace,
            config_path=args.workspace_config,
        )
    except WorkspaceError as error:
        raise CLIError(str(error)) from None
