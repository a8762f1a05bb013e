"""Azure: Blob storage, Azure ML training jobs and sweeps, deployment.

The core library never imports this package; it imports the core.
:mod:`food_recognition.azure.jobs` turns a
:class:`~food_recognition.compute.TrainingJob` into Azure ML v2 command and
sweep jobs and provides the ``azureml`` compute target;
:mod:`food_recognition.azure.workspace` builds the ``MLClient``;
:mod:`food_recognition.azure.environment` the training environment;
:mod:`food_recognition.azure.check` checks a workspace before a run.
The Azure SDK itself is imported inside functions, so importing these
modules is cheap.
"""
