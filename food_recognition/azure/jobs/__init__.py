"""Training jobs on Azure ML (v2 SDK): command jobs, sweeps, multi-node runs, ``azureml`` target.

The spec is the core's :class:`~food_recognition.compute.TrainingJob`
(re-exported here); this package turns it into Azure ML entities and YAML
and runs it::

    from food_recognition.azure.jobs import AzureMLTarget, TrainingJob, load_sweep

    job = TrainingJob(config, data="https://acct.blob.core.windows.net/food/food-101",
                      target="azureml", compute="gpu-cluster", nodes=2)
    target = AzureMLTarget()                     # workspace from config.json
    handle = target.submit_sweep(job, load_sweep("sweep.yaml"))
    target.wait(handle)
    package_dir = target.download_outputs(handle, "outputs")   # the best trial's

The Azure SDK is imported inside functions: importing this package is cheap.
"""

from food_recognition.azure.jobs.build import (
    DATA_INPUT,
    MODEL_OUTPUT,
    build_command,
    build_sweep,
    job_entity,
    model_package_uri,
    write_job_yaml,
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
    create_cluster,
    service_state_to_job_state,
)
from food_recognition.compute.job import DataLocation, JobSpecError, TrainingJob

__all__ = [
    "DATA_INPUT",
    "DISTRIBUTIONS",
    "MODEL_OUTPUT",
    "POLICIES",
    "SAMPLINGS",
    "AzureMLTarget",
    "DataLocation",
    "Distribution",
    "EarlyTermination",
    "JobSpecError",
    "SweepError",
    "SweepLimits",
    "SweepSpec",
    "TrainingJob",
    "build_command",
    "build_sweep",
    "create_cluster",
    "job_entity",
    "load_sweep",
    "model_package_uri",
    "search_name",
    "service_state_to_job_state",
    "write_job_yaml",
]
