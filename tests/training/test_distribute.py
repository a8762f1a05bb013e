"""TF_CONFIG cleaning and worker roles (the strategy itself: test_multi_worker)."""

from __future__ import annotations

import json

import pytest

from food_recognition.training.distribute import (
    WorkerRole,
    clean_tf_config,
    read_tf_config,
    role_from_tf_config,
)

AZURE_TF_CONFIG = {
    "cluster": {"worker": ["10.0.0.4:2222", "10.0.0.5:2222"], "ps": []},
    "task": {"type": "worker", "index": 1},
    "environment": "cloud",
}


def test_clean_tf_config_drops_empty_task_lists_and_keeps_the_rest() -> None:
    cleaned = clean_tf_config(AZURE_TF_CONFIG)
    assert cleaned["cluster"] == {"worker": ["10.0.0.4:2222", "10.0.0.5:2222"]}
    assert cleaned["task"] == {"type": "worker", "index": 1}
    assert cleaned["environment"] == "cloud"
    assert AZURE_TF_CONFIG["cluster"]["ps"] == []  # the input is not changed


def test_clean_tf_config_without_a_cluster_is_unchanged() -> None:
    assert clean_tf_config({"task": {"type": "worker", "index": 0}}) == {
        "task": {"type": "worker", "index": 0}
    }


def test_clean_tf_config_refuses_a_cluster_that_is_not_a_mapping() -> None:
    with pytest.raises(ValueError, match="mapping of task type"):
        clean_tf_config({"cluster": ["a:1"]})


def test_roles() -> None:
    assert role_from_tf_config(None) == WorkerRole()
    assert WorkerRole().is_chief
    worker1 = role_from_tf_config(clean_tf_config(AZURE_TF_CONFIG))
    assert (worker1.num_workers, worker1.is_chief) == (2, False)
    with_chief = {
        "cluster": {"chief": ["a:1"], "worker": ["b:2"]},
        "task": {"type": "worker", "index": 0},
    }
    assert not role_from_tf_config(with_chief).is_chief
    chief = role_from_tf_config({**with_chief, "task": {"type": "chief", "index": 0}})
    assert chief.is_chief and chief.num_workers == 2


def test_read_tf_config_writes_the_cleaned_value_back() -> None:
    environ = {"TF_CONFIG": json.dumps(AZURE_TF_CONFIG)}
    config = read_tf_config(environ)
    assert config is not None and "ps" not in config["cluster"]
    assert json.loads(environ["TF_CONFIG"]) == config
    assert read_tf_config({}) is None


def test_read_tf_config_names_bad_json() -> None:
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        read_tf_config({"TF_CONFIG": "{cluster"})
