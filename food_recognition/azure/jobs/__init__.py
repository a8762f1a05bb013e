"""Training jobs on Azure ML (v2 SDK): command jobs, sweeps, multi-node runs, ``azureml`` target.

The spec is the core's :class:`~food_recognition.compute.TrainingJob`
(re-exported here); this package turns it into Azure ML entities and YAML
and runs it::

    from food_recognition.azure.jobs import AzureMLTarget, TrainingJob, load_sweep

    create_cluster(ml_client, "gpu-cluster", vm_size="Standard_NC4as_T4_v3")  # once
    job = TrainingJob(config, data="https://acct.blob.core.windows.net/food/food-101",
                      target="azureml", compute="gpu-cluster", nodes=2)
    target = AzureMLTarget(ml_client)  # the Blob URL is read through a datastore
    handle = target.submit_sweep(job, load_sweep("sweep.yaml"))
    target.wait(handle)
    package_dir = target.download_outputs(handle, "outputs")   # the best trial's

The Azure SDK is imported inside functions: importing this package is cheap.
"""

from food_recognition.azure.jobs.build import (
    DATA_INPUT,
    DATASTORE_FILE,
    ENVIRONMENT_DIR,
    MODEL_OUTPUT,
    build_command,
    build_sweep,
    job_entity,
    job_environment,
    job_identity,
    model_package_uri,
    write_job_yaml,
)
from food_recognition.azure.jobs.data import (
    datastore_name,
    datastore_path,
    datastore_spec,
    ensure_datastore,
    job_data_path,
)
from food_recognition.azure.jobs.sweep import (
    DISTRIBUTIONS,
    POLICIES,
    SAMPLINGS,
    Distribution,
    EarlyTermination,
    SweepError,
    SweepLimits,
    SweepSpec,
    load_sweep,
    search_name,
)
from food_recognition.azure.jobs.target import (
    AzureMLTarget,
    cluster_entity,
    create_cluster,
    service_state_to_job_state,
)
from food_recognition.azure.jobs.vm_sizes import (
    DEFAULT_VM_SIZE,
    GPU_SIZES,
    RetiredVMSizeError,
    check_vm_size,
)
from food_recognition.compute.job import DataLocation, JobSpecError, TrainingJob

__all__ = [
    "DATASTORE_FILE",
    "DATA_INPUT",
    "DEFAULT_VM_SIZE",
    "DISTRIBUTIONS",
    "ENVIRONMENT_DIR",
    "GPU_SIZES",
    "MODEL_OUTPUT",
    "POLICIES",
    "SAMPLINGS",
    "AzureMLTarget",
    "DataLocation",
    "Distribution",
    "EarlyTermination",
    "JobSpecError",
    "RetiredVMSizeError",
    "SweepError",
    "SweepLimits",
    "SweepSpec",
    "TrainingJob",
    "build_command",
    "build_sweep",
    "check_vm_size",
    "cluster_entity",
    "create_cluster",
    "datastore_name",
    "datastore_path",
    "datastore_spec",
    "ensure_datastore",
    "job_data_path",
    "job_entity",
    "job_environment",
    "job_identity",
    "load_sweep",
    "model_package_uri",
    "search_name",
    "service_state_to_job_state",
    "write_job_yaml",
]
