"""The checkpoint folder: state JSON, weights with optimizer state, best weights."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from food_recognition.training.checkpoint import CheckpointStore, RunState


def _model() -> keras.Model:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.AdamW(1e-2), "categorical_crossentropy")
    return model


def test_save_and_load_restores_weights_optimizer_and_state(tmp_path: Path) -> None:
    model = _model()
    x, y = np.ones((8, 4), "float32"), np.eye(3, dtype="float32")[[0, 1, 2, 0, 1, 2, 0, 1]]
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    store = CheckpointStore(tmp_path / "ck")
    saved = store.save(
        model, RunState(epoch=1, step_in_epoch=3, global_step=5, history={"loss": [1.0]})
    )
    store.save(model, RunState(global_step=7))  # replaces the older weights file
    store.flush()
    assert sorted(p.name for p in store.directory.iterdir()) == [
        "latest.json",
        "previous.json",
        "step-000000007.npz",
    ]
    state = store.load_state()
    assert state is not None and state.global_step == 7 and saved.weights == "step-000000005.npz"

    fresh = _model()
    fresh.optimizer.build(fresh.trainable_variables)
    store.restore(fresh, state)
    assert int(fresh.optimizer.iterations.numpy()) == 2
    for a, b in zip(fresh.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(fresh.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_checkpoint_of_another_model_is_refused_with_the_fix(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    model = _model()
    model.optimizer.build(model.trainable_variables)
    state = store.save(model, RunState())
    other = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    other.compile(keras.optimizers.AdamW(), "mse")
    other.optimizer.build(other.trainable_variables)
    with pytest.raises(ValueError, match="was the config changed"):
        store.restore(other, state)


def test_best_weights_round_trip_without_pickle(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    weights = [np.arange(6, dtype="float32").reshape(2, 3), np.zeros(3, "float32")]
    store.save_best(weights)
    loaded = store.load_best()
    assert loaded is not None and all(
        np.array_equal(a, b) for a, b in zip(loaded, weights, strict=True)
    )
    store.clear_weights()
    assert store.load_best() is None


def test_a_read_only_store_writes_nothing(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "ck", writable=False)
    model = _model()
    model.optimizer.build(model.trainable_variables)
    store.save(model, RunState())
    store.save_best([np.zeros(1)])
    store.close()
    assert not (tmp_path / "ck").exists()


def test_a_damaged_state_file_says_how_to_start_over(tmp_path: Path) -> None:
    (tmp_path / "latest.json").write_text("{not json")
    with pytest.raises(ValueError, match="delete the folder to start over"):
        CheckpointStore(tmp_path).load_state()


def test_a_restore_right_after_a_save_waits_for_the_background_write(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "ck", scratch=tmp_path / "scratch")
    gate = threading.Event()
    publish, flush = store._publish, store.flush

    def held_publish(local: Path, name: str) -> None:
        gate.wait(timeout=30)  # released by the restore's flush (below)
        publish(local, name)

    def flush_and_release() -> None:
        gate.set()
        flush()

    store._publish = held_publish  # type: ignore[method-assign]
    store.flush = flush_and_release  # type: ignore[method-assign]
    model = _model()
    model.optimizer.build(model.trainable_variables)
    state = store.save(model, RunState(global_step=3))
    store.restore(model, state)  # the write is still held here unless restore flushes
    assert (tmp_path / "ck" / "step-000000003.npz").is_file()
    store.close()


def test_checkpoints_are_written_locally_and_copied_without_a_rename_in_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An Azure ML output folder is a Blob mount, where renames are unreliable:
    # here any rename into it fails.
    output = tmp_path / "outputs" / "checkpoints"
    real_replace, real_rename = os.replace, os.rename

    def refuse(kind: Any) -> Any:
        def move(source: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
            if str(output) in str(target):
                raise OSError(f"{kind} into the output mount is not supported")
            return (real_replace if kind == "replace" else real_rename)(source, target)

        return move

    monkeypatch.setattr(os, "replace", refuse("replace"))
    monkeypatch.setattr(os, "rename", refuse("rename"))
    model = _model()
    x, y = np.ones((8, 4), "float32"), np.eye(3, dtype="float32")[[0, 1, 2, 0, 1, 2, 0, 1]]
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    store = CheckpointStore(output)
    store.save(model, RunState(global_step=2, history={"loss": [1.0]}))
    store.save_best(model.get_weights())
    store.flush()
    scratch = store.scratch
    assert output not in scratch.parents and scratch != output
    assert sorted(p.name for p in output.iterdir()) == [
        "best.npz",
        "latest.json",
        "step-000000002.npz",
    ]
    store.close()
    assert not scratch.exists()

    # A restarted job: a new store on the output folder alone resumes from its copy.
    again = CheckpointStore(output)
    state = again.load_state()
    assert state is not None and state.global_step == 2
    fresh = _model()
    fresh.optimizer.build(fresh.trainable_variables)
    again.restore(fresh, state)
    for a, b in zip(fresh.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    best = again.load_best()
    assert best is not None and len(best) == len(model.get_weights())

    # Killed while the next state is written in place (no rename to make it atomic):
    # the state before it is read.
    again.save(fresh, RunState(global_step=4))
    again.flush()
    (output / "latest.json").write_bytes(b"")
    state = CheckpointStore(output).load_state()
    assert state is not None and state.global_step == 2
    again.close()
