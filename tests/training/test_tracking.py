"""Where metrics go and which names are logged."""

from __future__ import annotations

from pathlib import Path

from food_recognition.training.tracking import epoch_metrics, flatten_params, tracking_uri_for


def test_tracking_uri_prefers_config_then_environment_then_local_store(tmp_path: Path) -> None:
    env = {"MLFLOW_TRACKING_URI": "azureml://example"}
    assert tracking_uri_for("http://mlflow:5000", tmp_path, env) == "http://mlflow:5000"
    assert tracking_uri_for(None, tmp_path, env) == "azureml://example"
    assert tracking_uri_for(None, tmp_path, {}) == (tmp_path.resolve() / "mlruns").as_uri()


def test_flatten_params_uses_dotted_paths() -> None:
    params = flatten_params({"model": {"backbone": "resnet50", "weights": None}, "x": 1.5})
    assert params == {"model.backbone": "resnet50", "model.weights": "None", "x": "1.5"}


def test_epoch_metrics_keeps_only_logged_finite_names() -> None:
    logs = {"loss": 1.0, "val_loss": float("nan"), "top5_accuracy": 0.5, "other": 3.0}
    assert epoch_metrics(logs) == {"loss": 1.0, "top5_accuracy": 0.5}
