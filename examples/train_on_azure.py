"""The whole Azure path in Python: upload Food-101, sweep on a GPU cluster, deploy the best model.

1. upload the extracted data set to a Blob container (resumable, checksummed);
2. create the GPU cluster (an explicit, one-time call; it scales to zero) with a
   system-assigned managed identity, which reads the data;
3. submit a sweep of the training job over the reference project's search space;
   the Blob container is mounted through an identity-based datastore;
4. wait for it, pick the best trial, register its model package;
5. deploy it to an AKS cluster attached to the workspace, and label one photo.

Run it with the workspace's ``config.json`` in this folder (or the
``AZURE_SUBSCRIPTION_ID``/``AZURE_RESOURCE_GROUP``/``AZUREML_WORKSPACE_NAME``
variables) after ``az login``. Once the cluster exists it prints the ``az role
assignment create`` line that gives its identity the Storage Blob Data Reader
role on the account: run it while the environment builds, before the first trial
starts:

.. docs-test: azure

.. code-block:: console

    $ python examples/train_on_azure.py --data data/food-101 \\
        --account-url https://<account>.blob.core.windows.net --container food \\
        --vm-size Standard_NC4as_T4_v3 --aks-compute aks-inference --image tests/fixtures/pizza.jpg

``--vm-size`` takes any current GPU size: T4 (``Standard_NC4as_T4_v3``,
``Standard_NC8as_T4_v3``, ...), A100 (``Standard_NC24ads_A100_v4``,
``Standard_ND96asr_v4``, ...) or H100 (``Standard_NC40ads_H100_v5``,
``Standard_ND96isr_H100_v5``, ...); retired sizes (NC, NCv2, NCv3, ND, NDv2) are
refused before anything is sent.

``--dry-run DIR`` touches nothing on Azure: it writes the sweep (``DIR/job.yml``),
the datastore it reads (``DIR/datastore.yml``) and the cluster
(``DIR/cluster.yml``) as YAML that ``az ml datastore create``, ``az ml compute
create`` and ``az ml job create --file`` take (the account name is an example):

.. code-block:: console

    $ python examples/train_on_azure.py --dry-run sweep-yaml \\
        --account-url https://foodstore.blob.core.windows.net --container food
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from food_recognition.azure.jobs import (
    DEFAULT_VM_SIZE,
    GPU_SIZES,
    AzureMLTarget,
    RetiredVMSizeError,
    SweepSpec,
    TrainingJob,
    check_vm_size,
    cluster_entity,
    create_cluster,
    load_sweep,
    model_package_uri,
    write_job_yaml,
)
from food_recognition.config import RunConfig, with_overrides
from food_recognition.errors import FoodRecognitionError, one_line

HERE = Path(__file__).parent

#: The reference project's recipe: ResNet50 from ImageNet weights, one-cycle schedule.
RECIPE = {
    "model.backbone": "resnet50",
    "model.weights": "imagenet",
    "training.epochs": 20,
    "training.head_epochs": 2,
    "training.mixed_precision": True,
    "data.batch_size": 64,
}


def data_url(account_url: str, container: str) -> str:
    """The Blob container path of the uploaded data set (the job mounts it through a datastore)."""
    return f"{account_url.rstrip('/')}/{container}/food-101"


def upload_data(data_dir: Path, account_url: str, container: str) -> str:
    """Upload the extracted data set; return its Blob container path for the job."""
    from food_recognition.azure.blob import blob_service_client, upload_tree

    report = upload_tree(
        data_dir, container, prefix="food-101/", client=blob_service_client(account_url)
    )
    print(f"uploaded {len(report.uploaded)} files, {len(report.skipped)} already there")
    return data_url(account_url, container)


def reader_role_command(cluster: Any, account_url: str | None) -> str:
    """The role assignment that lets a new cluster's identity read the data, as a command.

    The identity only exists once the cluster does, so this is printed right after
    :func:`create_cluster`; the sweep's environment image builds first, which leaves time
    to run it before the first trial mounts the data.
    """
    principal = getattr(getattr(cluster, "identity", None), "principal_id", None)
    host = urlsplit(account_url or "").hostname or ""  # https:// or wasbs://container@host
    account = host.split(".")[0] if host.endswith(".core.windows.net") else ""
    scope = (
        f"$(az storage account show --name {account} --query id -o tsv)"
        if account
        else "<the storage account's resource id>"
    )
    return (
        "before the first trial starts, let the cluster's identity read the data: "
        f"az role assignment create --assignee-object-id {principal or '<its principal id>'} "
        f'--assignee-principal-type ServicePrincipal --role "Storage Blob Data Reader" '
        f"--scope {scope}"
    )


def training_job(data: str, cluster: str) -> TrainingJob:
    """The trial every sweep run starts from."""
    return TrainingJob(
        with_overrides(RunConfig(), RECIPE),
        data=data,
        target="azureml",
        compute=cluster,
        experiment_name="food-recognition-sweep",
        tags={"recipe": "reference"},
    )


def run_sweep(target: AzureMLTarget, job: TrainingJob, sweep: SweepSpec) -> str:
    """Submit the sweep, follow it to the end, and return its best trial's name."""
    handle = target.submit_sweep(job, sweep)
    for line in target.stream_logs(handle):
        print(line, end="")
    status = target.wait(handle)
    if not status.succeeded:
        raise SystemExit(f"sweep {handle.job_id} ended {status.state}: {status.message}")
    return target.best_trial(handle)


def publish(ml_client: Any, trial: str, aks_compute: str, image: Path) -> None:
    """Register the trial's model package, deploy it to AKS, and label one photo."""
    from food_recognition.azure.deploy import (
        DeploymentSpec,
        EndpointSpec,
        deploy,
        invoke,
        register_model,
    )

    model = register_model(ml_client, model_package_uri(trial), name="food-recognition")
    endpoint = EndpointSpec(name="food-recognition-aks", compute=aks_compute)
    deployment = DeploymentSpec(
        name="blue",
        endpoint_name=endpoint.name,
        model=f"azureml:{model.name}:{model.version}",
        instance_type="defaultinstancetype",
    )
    with tempfile.TemporaryDirectory() as code_dir:
        deploy(ml_client, endpoint, deployment, code_dir=code_dir)
    print(invoke(ml_client, endpoint.name, image.read_bytes(), top_k=3))


def main(argv: Sequence[str] | None = None, ml_client: Any = None) -> int:
    """Run the steps the arguments ask for (all of them by default)."""
    sizes = "; ".join(f"{gpu}: {', '.join(names)}" for gpu, names in GPU_SIZES.items())
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="the extracted data set to upload")
    parser.add_argument("--account-url", help="https://<account>.blob.core.windows.net")
    parser.add_argument("--container", default="food")
    parser.add_argument("--data-uri", help="skip the upload: data already at this location")
    parser.add_argument("--cluster", default="gpu-cluster")
    parser.add_argument(
        "--vm-size", default=DEFAULT_VM_SIZE, help=f"the cluster's GPU size ({sizes})"
    )
    parser.add_argument("--max-nodes", type=int, default=4)
    parser.add_argument("--sweep", type=Path, default=HERE / "sweep_reference.yaml")
    parser.add_argument("--aks-compute", help="deploy to this attached Kubernetes compute")
    parser.add_argument("--image", type=Path, help="a photo to label once deployed")
    parser.add_argument("--dry-run", type=Path, metavar="DIR", help="write the YAML only")
    args = parser.parse_args(argv)
    try:  # bad input stops here, before any upload or cluster
        check_vm_size(args.vm_size)
    except RetiredVMSizeError as error:
        parser.error(str(error))
    if not args.data_uri and not args.account_url:
        parser.error("give --account-url (with --data to upload) or --data-uri")
    if not (args.data_uri or args.dry_run or args.data):
        parser.error("give --data (the extracted data set to upload) or --data-uri")
    data = args.data_uri or data_url(args.account_url, args.container)

    sweep = load_sweep(args.sweep)
    if args.dry_run:
        print(write_job_yaml(training_job(data, args.cluster), args.dry_run, sweep=sweep))
        cluster = cluster_entity(
            args.cluster, vm_size=args.vm_size, max_nodes=args.max_nodes, low_priority=True
        )
        cluster.dump(args.dry_run / "cluster.yml")
        return 0

    try:
        return _run_on_azure(args, data, sweep, ml_client)
    except FoodRecognitionError as error:  # no workspace, refused credentials: one line
        parser.exit(2, f"error: {one_line(error)}\n")


def _run_on_azure(args: argparse.Namespace, data: str, sweep: Any, ml_client: Any) -> int:
    if ml_client is None:
        from food_recognition.azure.workspace import get_ml_client

        ml_client = get_ml_client()
    if not args.data_uri:
        data = upload_data(args.data, args.account_url, args.container)
    cluster = create_cluster(
        ml_client, args.cluster, vm_size=args.vm_size, max_nodes=args.max_nodes, low_priority=True
    )
    print(reader_role_command(cluster, args.account_url or args.data_uri))
    trial = run_sweep(AzureMLTarget(ml_client), training_job(data, args.cluster), sweep)
    print(f"best trial: {trial}; its package: {model_package_uri(trial)}")
    if args.aks_compute and args.image:
        publish(ml_client, trial, args.aks_compute, args.image)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
