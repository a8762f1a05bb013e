"""Endpoint and deployment specs offline: validation, traffic plans, YAML the SDK loaders take."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from azure.ai.ml import load_online_deployment, load_online_endpoint
from azure.ai.ml.entities import (
    KubernetesOnlineDeployment,
    KubernetesOnlineEndpoint,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    TargetUtilizationScaleSettings,
)

from food_recognition.azure.deploy import (
    SCORING_SCRIPT,
    DeployError,
    DeploymentSpec,
    EndpointSpec,
    ResourceLimits,
    check_resources,
    inference_conda,
    plan_traffic_shift,
    write_yaml,
)


def test_kubernetes_endpoint_and_deployment_round_trip_through_the_sdk_loaders(
    tmp_path: Path, tiny_package: Path
) -> None:
    endpoint = EndpointSpec(name="food-aks", compute="aks-inference")
    deployment = DeploymentSpec(
        name="blue",
        endpoint_name="food-aks",
        model=str(tiny_package),
        instance_type="cpuinstance",
        cpu_request="2",
        memory_request="3Gi",
        max_instances=4,
        request_timeout_ms=8000,
        blob_account_url="https://foodimages.blob.core.windows.net",
        blob_containers=("uploads",),
    )
    endpoint_yaml, deployment_yaml = write_yaml(endpoint, deployment, tmp_path / "out")

    loaded_endpoint = load_online_endpoint(endpoint_yaml)
    assert isinstance(loaded_endpoint, KubernetesOnlineEndpoint)
    assert loaded_endpoint.compute.removeprefix("azureml:") == "aks-inference"
    assert loaded_endpoint.auth_mode == "key"

    loaded = load_online_deployment(deployment_yaml)
    assert isinstance(loaded, KubernetesOnlineDeployment)
    assert loaded.instance_type == "cpuinstance"
    assert loaded.resources.requests.cpu == "2"
    assert loaded.resources.requests.memory == "3Gi"
    assert isinstance(loaded.scale_settings, TargetUtilizationScaleSettings)
    assert loaded.scale_settings.max_instances == 4
    assert loaded.request_settings.request_timeout_ms == 8000
    assert loaded.liveness_probe.initial_delay == 30
    assert loaded.readiness_probe.failure_threshold == 3
    assert loaded.app_insights_enabled is True
    assert loaded.environment_variables["FOOD_RECOGNITION_BLOB_CONTAINERS"] == "uploads"
    assert Path(loaded.model.path) == tiny_package.resolve()
    # The staged code holds the scoring script at the path the deployment names.
    code = deployment_yaml.parent / loaded.code_configuration.code
    assert loaded.code_configuration.scoring_script == SCORING_SCRIPT
    assert (code / SCORING_SCRIPT).is_file()
    assert not list(code.rglob("__pycache__"))


def test_managed_endpoint_with_a_registered_model_and_environment(tmp_path: Path) -> None:
    endpoint = EndpointSpec(name="food-managed", auth_mode="aad_token")
    deployment = DeploymentSpec(
        name="green",
        endpoint_name="food-managed",
        model="azureml:food-recognition:3",
        environment="azureml:food-inference:2",
        instance_type="Standard_F4s_v2",
        instance_count=2,
    )
    endpoint_yaml, deployment_yaml = write_yaml(endpoint, deployment, tmp_path)
    assert isinstance(load_online_endpoint(endpoint_yaml), ManagedOnlineEndpoint)
    loaded = load_online_deployment(deployment_yaml)
    assert isinstance(loaded, ManagedOnlineDeployment)
    assert loaded.instance_count == 2
    document = yaml.safe_load(deployment_yaml.read_text())
    assert document["model"] == "azureml:food-recognition:3"
    assert document["environment"] == "azureml:food-inference:2"
    assert document["$schema"].endswith("managedOnlineDeployment.schema.json")


def test_default_environment_installs_the_cpu_requirements_and_the_server(tmp_path: Path) -> None:
    endpoint = EndpointSpec(name="food-aks", compute="aks")
    deployment = DeploymentSpec(endpoint_name="food-aks", model="azureml:food:1")
    _, deployment_yaml = write_yaml(endpoint, deployment, tmp_path)
    environment = yaml.safe_load(deployment_yaml.read_text())["environment"]
    pip = next(d["pip"] for d in environment["conda_file"]["dependencies"] if isinstance(d, dict))
    # The code folder brings the library; the environment, what it imports.
    assert any(r.startswith("tensorflow-cpu==") for r in pip)
    assert any(r.startswith("azureml-inference-server-http") for r in pip)
    assert not any(r.startswith(("food-recognition", "tensorflow[")) for r in pip)
    assert "cuda" not in environment["image"]
    assert inference_conda("https://example.invalid/fr.whl")["dependencies"][-1]["pip"][0] == (
        "https://example.invalid/fr.whl"
    )


def test_no_secret_lands_in_the_yaml(tmp_path: Path) -> None:
    endpoint = EndpointSpec(name="food-aks", compute="aks")
    deployment = DeploymentSpec(endpoint_name="food-aks", model="azureml:food:1")
    paths = write_yaml(endpoint, deployment, tmp_path)
    text = "".join(path.read_text() for path in paths).lower()
    for word in ("key:", "secret", "password", "connection_string", "token:"):
        assert word not in text


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: EndpointSpec(name="x"), "3 to 32"),
        (lambda: EndpointSpec(name="food_recognition"), "letters, digits or hyphens"),
        (lambda: EndpointSpec(name="food", auth_mode="password"), "auth_mode"),
        (lambda: EndpointSpec(name="food", compute="aks", auth_mode="aad_token"), "managed"),
        (lambda: DeploymentSpec(endpoint_name="food", model="m", instance_count=0), "positive"),
        (
            lambda: DeploymentSpec(
                endpoint_name="food", model="m", min_instances=3, max_instances=2
            ),
            "below min_instances",
        ),
        (
            lambda: DeploymentSpec(endpoint_name="food", model="m", blob_containers=("a",)),
            "blob_account_url",
        ),
    ],
)
def test_specs_refuse_what_azure_would(make: object, words: str) -> None:
    with pytest.raises(DeployError, match=words):
        make()  # type: ignore[operator]


def test_write_yaml_refuses_a_folder_that_is_not_a_package(tmp_path: Path) -> None:
    endpoint = EndpointSpec(name="food", compute="aks")
    deployment = DeploymentSpec(endpoint_name="food", model=str(tmp_path))
    with pytest.raises(DeployError, match="not a model package"):
        write_yaml(endpoint, deployment, tmp_path / "out")
    other = DeploymentSpec(endpoint_name="other", model="azureml:food:1")
    with pytest.raises(DeployError, match="names endpoint 'other'"):
        write_yaml(endpoint, other, tmp_path / "out")


@pytest.mark.parametrize(
    ("current", "to", "percent", "expected"),
    [
        ({"blue": 100}, "green", 10, {"blue": 90, "green": 10}),
        ({"blue": 90, "green": 10}, "green", 100, {"blue": 0, "green": 100}),
        ({"blue": 0, "green": 100}, "blue", 100, {"blue": 100, "green": 0}),
        ({"a": 50, "b": 25, "c": 25}, "c", 40, {"a": 40, "b": 20, "c": 40}),
        ({"a": 1, "b": 1, "c": 98}, "c", 0, {"a": 50, "b": 50, "c": 0}),
        ({"blue": 0}, "blue", 100, {"blue": 100}),
    ],
)
def test_traffic_shift_keeps_the_others_in_proportion_and_sums_to_100(
    current: dict[str, int], to: str, percent: int, expected: dict[str, int]
) -> None:
    plan = plan_traffic_shift(current, to, percent)
    assert plan == expected
    assert sum(plan.values()) == 100


def test_traffic_shift_refuses_impossible_splits() -> None:
    with pytest.raises(DeployError, match="0 to 100"):
        plan_traffic_shift({"blue": 100}, "green", 120)
    with pytest.raises(DeployError, match="only deployment"):
        plan_traffic_shift({}, "blue", 50)


def test_a_local_package_is_tagged_with_its_metrics(tiny_package: Path) -> None:
    from food_recognition.azure.deploy import package_tags

    tags = package_tags(tiny_package, {"team": "food"})
    assert tags == {"team": "food", "accuracy": "0"}


def test_a_default_kubernetes_deployment_sends_nothing_beyond_defaultinstancetype(
    tmp_path: Path,
) -> None:
    endpoint = EndpointSpec(name="food-aks", compute="aks")
    deployment = DeploymentSpec(endpoint_name="food-aks", model="azureml:food:1")
    _, deployment_yaml = write_yaml(endpoint, deployment, tmp_path)
    document = yaml.safe_load(deployment_yaml.read_text())
    assert document["instance_type"] == "defaultinstancetype"
    # The instance type's own requests and limits (2 CPU / 2Gi) apply: none of ours.
    assert document["resources"] == {}
    loaded = load_online_deployment(deployment_yaml)
    assert loaded.resources.requests is None and loaded.resources.limits is None


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("memory_limit", "4Gi", "limit memory 4Gi is above 2Gi"),
        ("memory_request", "3Gi", "request memory 3Gi is above 2Gi"),
        ("cpu_request", "3", "request cpu 3 is above 2"),
        ("cpu_limit", "2500m", "limit cpu 2500m is above 2"),
    ],
)
def test_resources_beyond_the_instance_type_are_refused_before_anything_is_written(
    tmp_path: Path, field: str, value: str, words: str
) -> None:
    endpoint = EndpointSpec(name="food-aks", compute="aks")
    deployment = DeploymentSpec(endpoint_name="food-aks", model="azureml:food:1", **{field: value})
    with pytest.raises(DeployError, match=words) as caught:
        write_yaml(endpoint, deployment, tmp_path / "out")
    assert "'defaultinstancetype' (limits 2 CPU / 2Gi)" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_resources_within_a_known_instance_type_are_sent(tmp_path: Path) -> None:
    endpoint = EndpointSpec(name="food-aks", compute="aks")
    deployment = DeploymentSpec(
        endpoint_name="food-aks",
        model="azureml:food:1",
        cpu_request="500m",
        memory_request="1536Mi",
        cpu_limit="2",
        memory_limit="2Gi",
    )
    check_resources(deployment)
    _, deployment_yaml = write_yaml(endpoint, deployment, tmp_path)
    loaded = load_online_deployment(deployment_yaml)
    assert (loaded.resources.requests.cpu, loaded.resources.requests.memory) == ("500m", "1536Mi")
    assert (loaded.resources.limits.cpu, loaded.resources.limits.memory) == ("2", "2Gi")


def test_a_cluster_reported_instance_type_overrides_the_known_limits() -> None:
    deployment = DeploymentSpec(
        endpoint_name="food",
        model="azureml:food:1",
        instance_type="big",
        cpu_request="1",
        memory_request="2Gi",
        memory_limit="8Gi",
    )
    check_resources(deployment)  # unknown here: not checked offline
    with pytest.raises(DeployError, match="limit memory 8Gi is above 4Gi"):
        check_resources(deployment, instance_types={"big": ResourceLimits(cpu="4", memory="4Gi")})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"memory_limit": "1Gi"},
        {"cpu_limit": "1"},
        {"cpu_request": "1"},
        {"memory_request": "1Gi", "memory_limit": "2Gi"},
        {"instance_type": "big", "memory_limit": "8Gi"},
    ],
)
def test_resources_without_both_requests_are_refused_before_anything_is_written(
    tmp_path: Path, kwargs: dict[str, str]
) -> None:
    # Azure ML's resource section validation: requests.cpu and requests.memory are required
    # once a deployment sends resources (how-to-manage-kubernetes-instance-types).
    endpoint = EndpointSpec(name="food-aks", compute="aks")
    deployment = DeploymentSpec(endpoint_name="food-aks", model="azureml:food:1", **kwargs)
    with pytest.raises(DeployError, match="without both a CPU and a memory request"):
        write_yaml(endpoint, deployment, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"cpu_request": "two"}, "not a Kubernetes CPU quantity"),
        ({"memory_limit": "2GB"}, "not a Kubernetes memory quantity"),
        ({"memory_request": "2Gi", "memory_limit": "1Gi"}, "above its limit"),
    ],
)
def test_bad_quantities_are_refused_by_the_spec(kwargs: dict[str, str], words: str) -> None:
    with pytest.raises(DeployError, match=words):
        DeploymentSpec(endpoint_name="food", model="azureml:food:1", **kwargs)


def test_a_managed_deployment_takes_no_kubernetes_resources(tmp_path: Path) -> None:
    deployment = DeploymentSpec(endpoint_name="food", model="azureml:food:1", cpu_request="1")
    with pytest.raises(DeployError, match="managed deployment's size is its instance_type"):
        write_yaml(EndpointSpec(name="food"), deployment, tmp_path)


def test_job_output_uri_names_the_training_jobs_package() -> None:
    from food_recognition.azure.deploy import job_output_uri
    from food_recognition.azure.jobs import model_package_uri

    assert job_output_uri("sharp_pear_123") == (
        "azureml://jobs/sharp_pear_123/outputs/model/paths/package"
    )
    assert job_output_uri("x") == model_package_uri("x")


def test_a_job_output_cannot_be_written_as_a_deployments_model(tmp_path: Path) -> None:
    endpoint = EndpointSpec(name="food", compute="aks")
    uri = "azureml://jobs/sharp_pear_123/outputs/model/paths/package"
    with pytest.raises(DeployError, match="register it first"):
        write_yaml(endpoint, DeploymentSpec(endpoint_name="food", model=uri), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_package_without_its_config_is_refused(tmp_path: Path, tiny_package: Path) -> None:
    import shutil

    from food_recognition.package import CONFIG_FILE

    package = tmp_path / "package"
    shutil.copytree(tiny_package, package)
    (package / CONFIG_FILE).unlink()
    endpoint = EndpointSpec(name="food", compute="aks")
    with pytest.raises(DeployError, match=f"missing {CONFIG_FILE}"):
        write_yaml(endpoint, DeploymentSpec(endpoint_name="food", model=str(package)), tmp_path)
