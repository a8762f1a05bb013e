"""Resolve first: a bad name or option is one line, exit 2, before the data scan,
before any MLflow run exists and before anything is written or uploaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from food_recognition.augment import PolicyOptionError
from food_recognition.cli import main
from food_recognition.config import RunConfig, with_overrides
from food_recognition.plugins import BackboneSpec, PluginManager, Register, hookimpl
from food_recognition.plugins.resolve import resolve
from food_recognition.tta import TTAOptionError

BAD = [
    (["--model.backbone", "resnet5"], "unknown backbone 'resnet5'. Did you mean 'resnet50'"),
    (["--augment.policy", "refrence"], "unknown augmentation policy 'refrence'. Did you mean"),
    (["--tta.policy", "ten_crops"], "unknown TTA policy 'ten_crops'. Did you mean 'ten_crop'"),
    (
        ["--augment.policy", "reference", "--set", "augment.options.rotate=10"],
        "has no option 'rotate' (did you mean 'rotation'?)",
    ),
    (
        ["--tta.policy", "five_crop", "--set", "tta.options.crop=7"],
        "TTA policy 'five_crop': crop=7",
    ),
]


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(("options", "expected"), BAD)
def test_train_refuses_a_bad_name_or_option_before_the_data_scan(
    options: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-data"  # the data scan would report this one
    out = tmp_path / "out"
    code = main(["train", "--output", str(out), "--data.path", str(missing), *options])
    line = _one_line(capsys.readouterr().err)
    assert code == 2
    assert expected in line
    assert "no-such-data" not in line
    assert not (out / "mlruns").exists() and not out.exists()


@pytest.mark.parametrize(("options", "expected"), BAD)
def test_azure_submit_refuses_a_bad_name_or_option_before_anything_is_written(
    options: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dry = tmp_path / "job"
    argv = ["azure", "submit", "--target", "azureml", "--dry-run", str(dry)]
    argv += ["--data", "https://acct.blob.core.windows.net/food/food-101", *options]
    code = main(argv)
    line = _one_line(capsys.readouterr().err)
    assert code == 2 and expected in line
    assert not dry.exists()


def test_the_python_train_call_resolves_before_the_data_scan(tmp_path: Path) -> None:
    from food_recognition.plugins import UnknownNameError
    from food_recognition.training import train

    config = with_overrides(
        RunConfig(), {"model.backbone": "resnet5", "data.path": str(tmp_path / "missing")}
    )
    with pytest.raises(UnknownNameError, match="Did you mean 'resnet50'"):
        train(config, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_resolve_builds_both_policies_and_checks_their_options() -> None:
    resolved = resolve(with_overrides(RunConfig(), {"tta.policy": "random", "tta.seed": 3}))
    assert resolved.tta.name == "random" and resolved.distributions == ()
    with pytest.raises(PolicyOptionError):
        resolve(with_overrides(RunConfig(), {"augment.options.nope": 1}))
    with pytest.raises(TTAOptionError):
        resolve(with_overrides(RunConfig(), {"tta.policy": "flip", "tta.options.passes": 2}))


class _Plugin:
    @hookimpl
    def food_recognition_register_backbones(self, register: Register[BackboneSpec]) -> None:
        register.add(BackboneSpec("plug_net", print, "tf", 64))


def test_resolve_names_no_distribution_for_a_plugin_registered_in_code() -> None:
    manager = PluginManager(load_entry_points=False, extra_plugins=(_Plugin(),))
    config = with_overrides(RunConfig(), {"model.backbone": "plug_net"})
    assert resolve(config, manager).distributions == ()
