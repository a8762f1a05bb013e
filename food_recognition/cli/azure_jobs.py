"""``food-recognition azure submit | status | download | cluster``: training jobs on any target.

``submit`` takes every configuration field as an option (as ``train`` does),
builds a :class:`~food_recognition.compute.TrainingJob` and runs it on
``--target`` (``local`` by default, ``azureml``, or a plugin's); ``--sweep
FILE`` submits a sweep instead; ``--dry-run DIR`` writes the Azure ML job (or
sweep) as YAML plus its code snapshot, which ``az ml job create --file
DIR/job.yml`` accepts, and submits nothing (with a Blob account URL as the
data, also ``DIR/datastore.yml``, the identity-based datastore it is read
through). ``cluster`` creates the GPU cluster, with a managed identity, once.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from food_recognition.cli import CLIError
from food_recognition.cli.config_args import add_config_arguments, config_from_args
from food_recognition.plugins.resolve import resolve
from food_recognition.plugins.travel import check_from_index

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``submit``, ``status`` and ``download`` to the ``azure`` group."""
    submit = subparsers.add_parser(
        "submit",
        help="run a training job (or a sweep) on a compute target",
        description="Run the training entry point on a compute target: 'local' (a subprocess "
        "here), 'azureml' (an Azure ML cluster) or a plugin's. --dry-run writes the Azure ML "
        "job YAML instead.",
    )
    submit.add_argument("--target", default="local", help="compute target (default: local)")
    submit.add_argument(
        "--data",
        metavar="LOCATION",
        help="a local folder, https://<account>.blob.core.windows.net/<container>/<prefix> "
        "(read through a datastore), wasbs://<container>@<account>.blob.core.windows.net/<prefix>, "
        "azureml://datastores/... or azureml:<asset>:<version>; never a SAS URL "
        "(default: --data.path)",
    )
    submit.add_argument(
        "--identity",
        default="managed",
        metavar="WHO",
        help="who reads the data on Azure ML: 'managed' (the cluster's managed identity, the "
        "default), 'user' (yours) or a user-assigned identity's client id",
    )
    submit.add_argument("--compute", default="gpu-cluster", help="the cluster on the target")
    submit.add_argument("--nodes", type=int, default=1, help="machines (multi-worker if > 1)")
    submit.add_argument("--environment", help="an Azure ML environment (azureml:<name>:<ver>)")
    submit.add_argument(
        "--plugin-from-index",
        action="append",
        default=[],
        metavar="NAME",
        help="a plugin distribution the run uses that is published on a package index the image "
        "build reaches: the environment installs NAME==VERSION from there instead of a wheel "
        "built here (repeatable)",
    )
    submit.add_argument("--experiment", default="food-recognition", help="experiment name")
    submit.add_argument("--display-name", help="the run's name in the studio")
    submit.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    submit.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="environment variable"
    )
    submit.add_argument("--data-mode", choices=("ro_mount", "download"), default="ro_mount")
    submit.add_argument("--sweep", metavar="FILE", help="a sweep YAML file: submit a sweep")
    submit.add_argument(
        "--dry-run",
        metavar="DIR",
        help="write DIR/job.yml and DIR/code/ (and DIR/environment/, the build context of "
        "the environment, when the run uses plugins); submit nothing",
    )
    submit.add_argument("--wait", action="store_true", help="follow the job's log until it ends")
    submit.add_argument(
        "--no-check", action="store_true", help="azureml: skip the preflight (azure check)"
    )
    submit.add_argument(
        "--download", metavar="DIR", help="after --wait, fetch the model package into DIR"
    )
    _add_target_arguments(submit)
    add_config_arguments(submit)
    submit.set_defaults(handler=run_submit)

    status = subparsers.add_parser(
        "status", help="print a job's state", description="Print a submitted job's state."
    )
    status.add_argument("job_id", metavar="JOB", help="the id 'submit' printed")
    status.add_argument("--target", default="local")
    status.add_argument("--wait", action="store_true", help="wait until the job ends")
    _add_target_arguments(status)
    status.set_defaults(handler=run_status)

    download = subparsers.add_parser(
        "download",
        help="fetch a finished job's model package",
        description="Download a completed job's model package (a sweep: its best trial's).",
    )
    download.add_argument("job_id", metavar="JOB")
    download.add_argument("dest", metavar="DIR", help="where to put it")
    download.add_argument("--target", default="local")
    _add_target_arguments(download)
    download.set_defaults(handler=run_download)

    from food_recognition.azure.jobs.vm_sizes import DEFAULT_VM_SIZE, GPU_SIZES

    sizes = "; ".join(f"{gpu}: {', '.join(names)}" for gpu, names in GPU_SIZES.items())
    cluster = subparsers.add_parser(
        "cluster",
        help="create (or update) the GPU training cluster",
        description="Create or update an Azure ML GPU cluster with a managed identity that "
        "reads the training data (give it Storage Blob Data Reader on the storage account). "
        "It scales to zero nodes when idle. Retired VM sizes are refused.",
    )
    cluster.add_argument("name", metavar="NAME", help="the cluster's name (--compute of submit)")
    cluster.add_argument("--vm-size", default=DEFAULT_VM_SIZE, help=f"a current GPU size ({sizes})")
    cluster.add_argument("--max-nodes", type=int, default=4)
    cluster.add_argument("--min-nodes", type=int, default=0)
    cluster.add_argument(
        "--low-priority", action="store_true", help="spot VMs: cheaper, can be preempted"
    )
    cluster.add_argument(
        "--identity",
        metavar="RESOURCE_ID",
        help="a user-assigned identity's resource id (default: a system-assigned identity)",
    )
    cluster.add_argument(
        "--dry-run", metavar="FILE", help="write the cluster as YAML (az ml compute create --file)"
    )
    _add_target_arguments(cluster)
    cluster.set_defaults(handler=run_cluster)


def _add_target_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("compute target options")
    group.add_argument("--root", default="runs", help="local target: the runs folder")
    group.add_argument("--subscription", help="azureml: subscription id")
    group.add_argument("--resource-group", help="azureml: resource group")
    group.add_argument("--workspace", help="azureml: workspace name")
    group.add_argument("--workspace-config", metavar="FILE", help="azureml: a config.json")
    group.add_argument(
        "--target-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an option for the target's factory (third-party targets)",
    )


def run_submit(args: argparse.Namespace) -> int:
    """Build the job and submit it (or write its YAML)."""
    from food_recognition.compute import TrainingJob

    config = config_from_args(args)
    resolved = resolve(config)  # names and options, before anything is written or uploaded
    check_from_index(resolved.distributions, args.plugin_from_index)
    job = TrainingJob(
        config,
        data=args.data,
        target=args.target,
        compute=args.compute,
        nodes=args.nodes,
        environment=args.environment,
        experiment_name=args.experiment,
        display_name=args.display_name,
        tags=_pairs(args.tag, "--tag"),
        environment_variables=_pairs(args.env, "--env"),
        data_mode=args.data_mode,
        identity=args.identity,
        plugins_from_index=tuple(args.plugin_from_index),
    )
    sweep = None
    if args.sweep:
        from food_recognition.azure.jobs import load_sweep

        sweep = load_sweep(args.sweep)
        sweep.check(config)
    if args.dry_run:
        from food_recognition.azure.jobs import DATASTORE_FILE, write_job_yaml

        path = write_job_yaml(job, args.dry_run, sweep=sweep)
        store = path.with_name(DATASTORE_FILE)
        if store.exists():
            print(f"wrote {store}; register it once with: az ml datastore create --file {store}")
        print(f"wrote {path}; submit it with: az ml job create --file {path}")
        return 0
    target = _target(args)
    if args.target == "azureml" and not args.no_check:
        from food_recognition.cli.azure_check import preflight_training

        preflight_training(target.ml_client, job)
    if sweep is not None:
        submit_sweep = getattr(target, "submit_sweep", None)
        if submit_sweep is None:
            raise CLIError(f"target {args.target!r} cannot run sweeps; use --target azureml")
        handle = submit_sweep(job, sweep)
    else:
        handle = target.submit(job)
    print(json.dumps({"target": handle.target, "job_id": handle.job_id, **handle.details}))
    if not args.wait:
        return 0
    for line in target.stream_logs(handle):
        sys.stdout.write(line)
    status = target.wait(handle)
    print(f"{handle.job_id}: {status.state} {status.message}".rstrip())
    if status.succeeded and args.download:
        print(target.download_outputs(handle, args.download))
    return 0 if status.succeeded else 1


def run_status(args: argparse.Namespace) -> int:
    """Print the job's state (exit 1 if it failed or was canceled)."""
    from food_recognition.compute import JobHandle

    target = _target(args)
    handle = JobHandle(args.target, args.job_id)
    status = target.wait(handle) if args.wait else target.status(handle)
    print(f"{args.job_id}: {status.state} {status.message}".rstrip())
    return 1 if status.done and not status.succeeded else 0


def run_download(args: argparse.Namespace) -> int:
    """Fetch the model package and print where it is."""
    from food_recognition.compute import JobHandle

    target = _target(args)
    path = target.download_outputs(JobHandle(args.target, args.job_id), Path(args.dest))
    print(path)
    return 0


def run_cluster(args: argparse.Namespace) -> int:
    """Create the cluster (or write it as YAML); checked before anything is sent."""
    from food_recognition.azure.jobs import RetiredVMSizeError, cluster_entity, create_cluster

    options = {
        "vm_size": args.vm_size,
        "max_nodes": args.max_nodes,
        "min_nodes": args.min_nodes,
        "low_priority": args.low_priority,
        "identity": args.identity,
    }
    try:
        entity = cluster_entity(args.name, **options)
    except (RetiredVMSizeError, ValueError) as error:
        raise CLIError(str(error)) from error
    if args.dry_run:
        entity.dump(args.dry_run)
        print(f"wrote {args.dry_run}; create it with: az ml compute create --file {args.dry_run}")
        return 0
    from food_recognition.azure.workspace import get_ml_client

    workspace = {
        "subscription_id": args.subscription,
        "resource_group": args.resource_group,
        "workspace_name": args.workspace,
        "config_path": args.workspace_config,
    }
    created = create_cluster(
        get_ml_client(**{k: v for k, v in workspace.items() if v}), args.name, **options
    )
    principal = getattr(getattr(created, "identity", None), "principal_id", None)
    print(f"cluster {args.name}: {args.vm_size}, identity {principal or args.identity}")
    return 0


def _target(args: argparse.Namespace) -> Any:
    from food_recognition.compute import get_target

    options: dict[str, Any] = dict(_pairs(args.target_option, "--target-option"))
    if args.target == "local":
        options.setdefault("root", args.root)
    elif args.target == "azureml":
        workspace = {
            "subscription_id": args.subscription,
            "resource_group": args.resource_group,
            "workspace_name": args.workspace,
            "config_path": args.workspace_config,
        }
        options.update({k: v for k, v in workspace.items() if v})
    return get_target(args.target, **options)


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CLIError(f"{flag} {item!r}: expected NAME=VALUE")
        result[key] = value
    return result
