"""``food-recognition azure deploy | invoke | traffic | logs | delete | register | attach-aks``.

Online endpoints on Azure ML (v2): ``deploy`` creates or updates an endpoint
and one deployment of a model package on attached Kubernetes (AKS) compute or
managed compute; ``--dry-run DIR`` writes the endpoint and deployment YAML
(which ``az ml online-endpoint create -f`` and ``az ml online-deployment create
-f`` accept) and touches nothing. ``invoke`` posts an image to an endpoint (or,
with ``--url``, to any scoring URI such as ``food-recognition serve``'s).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from food_recognition.azure.jobs.build import model_package_uri
from food_recognition.cli import CLIError
from food_recognition.plugins.travel import check_from_index

__all__ = ["ENV_ENDPOINT_KEY", "register"]

#: Environment variable holding an endpoint key for ``invoke --url`` (never pass keys as options).
ENV_ENDPOINT_KEY = "FOOD_RECOGNITION_ENDPOINT_KEY"

#: A training job's package, as help texts and errors name it.
_JOB_PACKAGE = model_package_uri("JOB")


def register(subparsers: Any) -> None:
    """Add the deployment subcommands to the ``azure`` group."""
    deploy = subparsers.add_parser(
        "deploy",
        help="deploy a model package to an online endpoint (AKS or managed)",
        description="Create or update an online endpoint and one deployment of a model. "
        "The first deployment gets all traffic; a later one gets --traffic percent "
        f"(blue/green). A job's package ({_JOB_PACKAGE}) is registered first. "
        "The workspace is checked first (food-recognition azure check; --no-check skips it). "
        "--dry-run DIR writes the YAML instead.",
    )
    deploy.add_argument(
        "model",
        metavar="MODEL",
        help=f"a local package folder, azureml:NAME:VERSION, or {_JOB_PACKAGE} "
        "(registered as --model-name, then deployed)",
    )
    deploy.add_argument(
        "--model-name",
        default="food-recognition",
        help="the name a job's package is registered under (default: food-recognition)",
    )
    deploy.add_argument("--endpoint", required=True, help="endpoint name")
    deploy.add_argument("--deployment", default="blue", help="deployment name (default: blue)")
    deploy.add_argument(
        "--compute",
        help="attached Kubernetes compute name (an AKS cluster); omit for managed compute",
    )
    deploy.add_argument(
        "--auth-mode", default="key", choices=("key", "aml_token", "aad_token"), help="caller auth"
    )
    deploy.add_argument("--instance-type", help="VM size (managed) or instance type (Kubernetes)")
    deploy.add_argument("--instance-count", type=int, default=1)
    deploy.add_argument("--cpu", help="Kubernetes CPU request (default: the instance type's)")
    deploy.add_argument("--memory", help="Kubernetes memory request (default: the instance type's)")
    deploy.add_argument("--cpu-limit", help="Kubernetes CPU limit (default: the instance type's)")
    deploy.add_argument(
        "--memory-limit",
        help="Kubernetes memory limit (default: the instance type's; defaultinstancetype "
        "allows 2 CPU / 2Gi)",
    )
    deploy.add_argument(
        "--max-instances", type=int, help="Kubernetes autoscale ceiling (turns autoscale on)"
    )
    deploy.add_argument("--min-instances", type=int, default=1)
    deploy.add_argument("--request-timeout-ms", type=int, default=5000)
    deploy.add_argument("--workers", type=int, default=1, help="server workers per instance")
    deploy.add_argument("--environment", help="a registered environment azureml:NAME:VERSION")
    deploy.add_argument(
        "--package-requirement",
        help="install this library from a pip requirement (a wheel URL) instead of its "
        "requirements (the code folder brings the library)",
    )
    deploy.add_argument(
        "--plugin-from-index",
        action="append",
        default=[],
        metavar="NAME",
        help="a plugin distribution the model needs that is published on a package index the image "
        "build reaches: the environment installs NAME==VERSION from there instead of a wheel "
        "built here (repeatable)",
    )
    deploy.add_argument("--no-app-insights", action="store_true", help="turn App Insights off")
    deploy.add_argument("--blob-account-url", help="storage account blob requests read from")
    deploy.add_argument(
        "--blob-containers", default="", help="comma-separated containers blob requests may name"
    )
    deploy.add_argument(
        "--traffic",
        type=int,
        help="percent of traffic for this deployment when the endpoint has others (default 0)",
    )
    deploy.add_argument(
        "--dry-run",
        metavar="DIR",
        help="write DIR/endpoint.yaml, DIR/deployment-NAME.yaml and DIR/code/ (and "
        "DIR/environment/ when the model needs plugins); deploy nothing",
    )
    deploy.add_argument(
        "--no-check", action="store_true", help="skip the workspace preflight (azure check)"
    )
    _add_workspace_arguments(deploy)
    deploy.set_defaults(handler=run_deploy)

    invoke = subparsers.add_parser(
        "invoke",
        help="label an image with an endpoint (or any scoring URI)",
        description="Post an image's bytes to an endpoint's scoring URI with its key or token "
        "and print the answer. With --url, post to that URI; a key comes from "
        f"${ENV_ENDPOINT_KEY}.",
    )
    invoke.add_argument("endpoint", metavar="ENDPOINT", nargs="?", help="endpoint name")
    invoke.add_argument("image", metavar="IMAGE", help="a JPEG, PNG or WebP file")
    invoke.add_argument("--url", help="a scoring URI instead of an endpoint name")
    invoke.add_argument("--deployment", help="send the request to this deployment only")
    invoke.add_argument("--top-k", type=int)
    invoke.add_argument("--tta", help="a TTA policy name, or 'none'")
    invoke.add_argument("--tta-threshold", type=float)
    invoke.add_argument("--all-probabilities", action="store_true")
    _add_workspace_arguments(invoke)
    invoke.set_defaults(handler=run_invoke)

    traffic = subparsers.add_parser(
        "traffic",
        help="set or shift an endpoint's traffic between deployments",
        description="Set the split (blue=90 green=10) or shift one deployment to a percent "
        "(--to green --percent 50), the others keeping their proportions.",
    )
    traffic.add_argument("endpoint", metavar="ENDPOINT")
    traffic.add_argument("split", nargs="*", metavar="NAME=PERCENT")
    traffic.add_argument("--to", help="the deployment to shift traffic to")
    traffic.add_argument("--percent", type=int, help="its new share")
    _add_workspace_arguments(traffic)
    traffic.set_defaults(handler=run_traffic)

    logs = subparsers.add_parser("logs", help="print a deployment's log")
    logs.add_argument("endpoint", metavar="ENDPOINT")
    logs.add_argument("deployment", metavar="DEPLOYMENT")
    logs.add_argument("--lines", type=int, default=100)
    logs.add_argument(
        "--init", action="store_true", help="the storage initializer's log (model download)"
    )
    _add_workspace_arguments(logs)
    logs.set_defaults(handler=run_logs)

    delete = subparsers.add_parser(
        "delete", help="delete a deployment (without traffic) or a whole endpoint"
    )
    delete.add_argument("endpoint", metavar="ENDPOINT")
    delete.add_argument("--deployment", help="delete only this deployment")
    _add_workspace_arguments(delete)
    delete.set_defaults(handler=run_delete)

    register_model = subparsers.add_parser(
        "register", help="register a model package (a folder or a job's output)"
    )
    register_model.add_argument(
        "source", metavar="SOURCE", help=f"a package folder or a job's package, {_JOB_PACKAGE}"
    )
    register_model.add_argument("--name", default="food-recognition")
    register_model.add_argument("--version")
    _add_workspace_arguments(register_model)
    register_model.set_defaults(handler=run_register)

    attach = subparsers.add_parser(
        "attach-aks",
        help="attach an AKS cluster (with the Azure ML extension) as Kubernetes compute",
    )
    attach.add_argument("name", metavar="NAME", help="the compute's name in the workspace")
    attach.add_argument("resource_id", metavar="CLUSTER_RESOURCE_ID")
    attach.add_argument("--namespace", default="azureml")
    _add_workspace_arguments(attach)
    attach.set_defaults(handler=run_attach)


def run_deploy(args: argparse.Namespace) -> int:
    """Deploy, or with ``--dry-run`` write the YAML."""
    from food_recognition.azure import deploy as az

    model = _model_argument(args.model)
    if Path(model).is_dir():  # a local package: its plugins and names, before any upload
        from food_recognition.package import resolve_package
        from food_recognition.serving.scoring import find_package_dir

        resolve_package(find_package_dir(model))
    check_from_index(az.package_plugins(model), args.plugin_from_index)
    containers = tuple(c.strip() for c in args.blob_containers.split(",") if c.strip())
    endpoint = az.EndpointSpec(name=args.endpoint, compute=args.compute, auth_mode=args.auth_mode)
    environment = args.environment
    deployment = az.DeploymentSpec(
        name=args.deployment,
        endpoint_name=args.endpoint,
        model=model,
        environment=environment,
        instance_type=args.instance_type,
        instance_count=args.instance_count,
        cpu_request=args.cpu,
        memory_request=args.memory,
        cpu_limit=args.cpu_limit,
        memory_limit=args.memory_limit,
        min_instances=args.min_instances,
        max_instances=args.max_instances,
        request_timeout_ms=args.request_timeout_ms,
        workers=args.workers,
        app_insights=not args.no_app_insights,
        blob_account_url=args.blob_account_url,
        blob_containers=containers,
        plugins_from_index=tuple(args.plugin_from_index),
    )
    if args.dry_run:
        env_entity = None
        if args.package_requirement and not environment:
            env_entity = az.inference_environment(package=args.package_requirement)
        paths = az.write_yaml(endpoint, deployment, args.dry_run, environment=env_entity)
        for path in paths:
            print(path)
        return 0
    az.check_resources(deployment, kind=endpoint.kind)
    ml_client = _ml_client(args)
    if not args.no_check:
        from food_recognition.azure.check import check_deployment
        from food_recognition.cli.azure_check import preflight

        preflight(check_deployment(ml_client, endpoint, deployment))
    result = az.deploy(
        ml_client,
        endpoint,
        deployment,
        code_dir=Path(".food-recognition-deploy") / args.endpoint / args.deployment,
        traffic_percent=args.traffic,
        environment=(
            az.inference_environment(package=args.package_requirement)
            if args.package_requirement and not environment
            else None
        ),
        model_name=args.model_name,
    )
    print(json.dumps({"endpoint": result.name, "traffic": dict(result.traffic or {})}))
    return 0


def run_invoke(args: argparse.Namespace) -> int:
    """Post an image and print the answer as JSON."""
    from food_recognition.serving.client import ScoringClient, ScoringError

    image_path = Path(args.image)
    if not image_path.is_file():
        raise CLIError(f"no image file {image_path}")
    image = image_path.read_bytes()
    if args.url:
        client = ScoringClient(
            args.url, key=os.environ.get(ENV_ENDPOINT_KEY), deployment=args.deployment
        )
    elif args.endpoint:
        from food_recognition.azure.deploy import scoring_client

        client = scoring_client(_ml_client(args), args.endpoint, deployment=args.deployment)
    else:
        raise CLIError("name an ENDPOINT, or give --url SCORING_URI")
    try:
        prediction = client.predict(
            image,
            top_k=args.top_k,
            tta=args.tta,
            tta_threshold=args.tta_threshold,
            all_probabilities=args.all_probabilities,
        )
    except ScoringError as error:  # adds who refused: the status alone reads as ours
        raise CLIError(f"the endpoint refused the request: {error}") from None
    finally:
        client.close()
    print(json.dumps(dict(prediction.raw), indent=2))
    return 0


def run_traffic(args: argparse.Namespace) -> int:
    """Set or shift the traffic split."""
    from food_recognition.azure import deploy as az

    if args.to is not None and (args.percent is None or args.split):
        raise CLIError("--to needs --percent, and no NAME=PERCENT pairs")
    split = _split(args.split) if args.to is None else {}
    ml_client = _ml_client(args)
    if args.to is not None:
        result = az.shift_traffic(ml_client, args.endpoint, args.to, args.percent)
    else:
        result = az.set_traffic(ml_client, args.endpoint, split)
    print(json.dumps(dict(result.traffic or {})))
    return 0


def run_logs(args: argparse.Namespace) -> int:
    """Print a deployment's log."""
    from food_recognition.azure.deploy import get_logs

    text = get_logs(
        _ml_client(args), args.endpoint, args.deployment, lines=args.lines, init_container=args.init
    )
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    """Delete a deployment or an endpoint."""
    from food_recognition.azure.deploy import delete

    delete(_ml_client(args), args.endpoint, args.deployment)
    return 0


def run_register(args: argparse.Namespace) -> int:
    """Register a model and print its ``azureml:`` reference."""
    from food_recognition.azure.deploy import register_model

    model = register_model(_ml_client(args), args.source, name=args.name, version=args.version)
    print(f"azureml:{model.name}:{model.version}")
    return 0


def run_attach(args: argparse.Namespace) -> int:
    """Attach a Kubernetes cluster as compute."""
    from food_recognition.azure.deploy import attach_kubernetes_compute

    compute = attach_kubernetes_compute(
        _ml_client(args), args.name, args.resource_id, namespace=args.namespace
    )
    print(compute.name)
    return 0


def _add_workspace_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("workspace (or AZURE_SUBSCRIPTION_ID, ... or config.json)")
    group.add_argument("--subscription", help="subscription id")
    group.add_argument("--resource-group", help="resource group")
    group.add_argument("--workspace", help="workspace name")
    group.add_argument("--workspace-config", metavar="FILE", help="a config.json")


def _ml_client(args: argparse.Namespace) -> Any:
    from food_recognition.azure.workspace import get_ml_client

    return get_ml_client(
        subscription_id=args.subscription,
        resource_group=args.resource_group,
        workspace_name=args.workspace,
        config_path=args.workspace_config,
    )


def _model_argument(value: str) -> str:
    if value.startswith(("azureml:", "azureml://")):
        return value
    path = Path(value)
    if not path.is_dir():
        raise CLIError(
            f"MODEL {value!r} is neither a package folder nor an azureml: reference "
            f"(azureml:NAME:VERSION or {_JOB_PACKAGE})"
        )
    return str(path)


def _split(pairs: list[str]) -> dict[str, int]:
    if not pairs:
        raise CLIError("give NAME=PERCENT pairs (blue=90 green=10) or --to NAME --percent N")
    split: dict[str, int] = {}
    for pair in pairs:
        name, _, percent = pair.partition("=")
        if not name or not percent.strip().isdigit():
            raise CLIError(f"{pair!r} is not NAME=PERCENT (e.g. green=10)")
        split[name] = int(percent)
    return split
