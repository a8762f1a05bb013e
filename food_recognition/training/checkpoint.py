"""Checkpoints that let a killed run continue where it stopped.

A checkpoint is a NumPy archive of the model's *and* the optimizer's
variables (so the step counter, moments and EMA come back) plus a small JSON
:class:`RunState`: the phase, the epoch in progress, how many of its steps are
done, the per-epoch history and the early-stopping bookkeeping. The state file
``latest.json`` is written after the archive it names is complete in the
output folder, so a run killed at any moment (SIGKILL included) leaves a
consistent pair: the previous state names the previous archive, which is
deleted only after the new state is written.

The output folder of an Azure ML job is a read-write Blob mount, where a
rename is not reliable (blobfuse copies and deletes) and a zip archive's
seeks are slow. So an archive is written to a local scratch folder first and
then copied to the output folder in one sequential write; nothing is renamed
there. A restarted job resumes from the output folder's copy.

The variables are copied to host memory in the training thread (a consistent
snapshot between two steps) and written by one background thread, so training
does not wait for the disk. The archive holds arrays only (no pickle); Keras's
own ``save_weights`` was several times slower for the same content.

Layout of ``<output>/checkpoints/``::

    latest.json                 the RunState of the newest checkpoint
    previous.json               the one before (read when latest.json is cut short)
    step-000000120.npz          model + optimizer variables at global step 120
    best.npz                    the best epoch's model weights (early stopping)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import numpy as np

__all__ = ["CheckpointStore", "RunState"]

STATE_FILE = "latest.json"
#: The state before the newest, kept while ``latest.json`` is rewritten.
PREVIOUS_STATE_FILE = "previous.json"
BEST_FILE = "best.npz"
PHASES = ("head", "main")


@attrs.define(frozen=True)
class RunState:
    """Where a training run is, as plain data (saved as JSON beside the weights).

    :param phase: ``"head"`` (backbone frozen) or ``"main"``.
    :param epoch: the global index of the epoch in progress (epochs of all phases counted).
    :param step_in_epoch: optimizer steps of that epoch already done.
    :param global_step: optimizer steps of all phases so far.
    :param history: per-epoch metric lists (``loss``, ``val_accuracy``, ...).
    :param best_value: the best monitored value of this phase (early stopping).
    :param best_epoch: the global epoch it was reached in.
    :param wait: epochs since it improved.
    :param weights: the checkpoint weights file (in the same folder), if any.
    :param finished: the run wrote its model package.
    """

    phase: str = attrs.field(default="main", validator=attrs.validators.in_(PHASES))
    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    history: dict[str, list[float]] = attrs.field(factory=dict)
    best_value: float | None = None
    best_epoch: int | None = None
    wait: int = 0
    weights: str | None = None
    finished: bool = False

    def to_json(self) -> str:
        """The state as JSON."""
        return json.dumps(attrs.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> RunState:
        """Read a state written by :meth:`to_json`.

        :raises ValueError: the text is not a state.
        """
        try:
            data = json.loads(text)
            return cls(**data)
        except (json.JSONDecodeError, TypeError) as error:
            raise ValueError(f"not a training checkpoint state: {error}") from error


class CheckpointStore:
    """The checkpoint folder of a run.

    :param directory: the folder (created on the first write).
    :param writable: ``False`` on non-chief workers of a cluster: they read the
        chief's checkpoints to resume and never write.
    :param scratch: the local folder archives are written in before they are
        copied to ``directory``; a temporary folder (removed by :meth:`close`)
        when ``None``.
    """

    def __init__(
        self, directory: Path, *, writable: bool = True, scratch: Path | None = None
    ) -> None:
        self.directory = Path(directory)
        self.writable = writable
        self._scratch = scratch
        self._own_scratch: Path | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []

    @property
    def scratch(self) -> Path:
        """The local folder archives are written in first (made on first use)."""
        if self._scratch is None:
            self._own_scratch = Path(tempfile.mkdtemp(prefix="food-recognition-checkpoint-"))
            self._scratch = self._own_scratch
        self._scratch.mkdir(parents=True, exist_ok=True)
        return self._scratch

    def load_state(self) -> RunState | None:
        """The newest saved state, or ``None`` when the run starts fresh."""
        self.flush()
        path = self.directory / STATE_FILE
        if not path.is_file():
            return None
        try:
            return RunState.from_json(path.read_text(encoding="utf-8"))
        except ValueError as error:
            # Killed while latest.json was rewritten in place (no rename on a Blob
            # mount): the state before it is whole, and so is the archive it names.
            previous = self.directory / PREVIOUS_STATE_FILE
            if previous.is_file():
                with contextlib.suppress(ValueError):
                    return RunState.from_json(previous.read_text(encoding="utf-8"))
            raise ValueError(f"{path}: {error}; delete the folder to start over") from error

    def weights_path(self, state: RunState) -> Path | None:
        """The weights file ``state`` names, if it exists (after the pending writes)."""
        self.flush()
        if state.weights is None:
            return None
        path = self.directory / state.weights
        return path if path.is_file() else None

    def save(self, model: Any, state: RunState) -> RunState:
        """Snapshot the model's and optimizer's variables; write them, then ``latest.json``.

        The write happens in the background; :meth:`flush` waits for it.

        :param model: the compiled Keras model (its optimizer built).
        :param state: the state to save (its ``weights`` is set here).
        :returns: the saved state.
        """
        name = f"step-{state.global_step:09d}.npz"
        state = attrs.evolve(state, weights=name)
        if not self.writable:
            return state
        arrays = {f"model/{i:05d}": v.numpy() for i, v in enumerate(model.weights)}
        optimizer_variables = model.optimizer.variables
        arrays.update({f"optimizer/{i:05d}": v.numpy() for i, v in enumerate(optimizer_variables)})
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        self._pending.append(self._executor.submit(self._write, name, arrays, state))
        return state

    def restore(self, model: Any, state: RunState) -> None:
        """Load the variables ``state`` names into ``model`` and its (built) optimizer.

        :raises ValueError: the checkpoint does not fit this model or optimizer.
        """
        # weights_path waits for the background writes: a restore right after a
        # save finds the archive the save names.
        path = self.weights_path(state)
        if path is None:
            raise ValueError(f"{self.directory}: checkpoint {state.weights!r} is missing")
        with np.load(path, allow_pickle=False) as archive:
            saved = {key: archive[key] for key in archive.files}
        for prefix, variables in (
            ("model", model.weights),
            ("optimizer", model.optimizer.variables),
        ):
            values = [saved[key] for key in sorted(saved) if key.startswith(prefix + "/")]
            shapes = [tuple(v.shape) for v in variables]
            if [tuple(v.shape) for v in values] != shapes:
                raise ValueError(
                    f"{path}: the checkpoint's {prefix} variables ({len(values)}) do not fit this "
                    f"run's ({len(shapes)}); was the config changed? Use a new output folder"
                )
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)

    def flush(self) -> None:
        """Wait for the background writes; re-raise the first that failed."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        """Flush, stop the writer thread and remove the temporary scratch folder."""
        try:
            self.flush()
        finally:
            if self._executor is not None:
                self._executor.shutdown()
                self._executor = None
            if self._own_scratch is not None:
                shutil.rmtree(self._own_scratch, ignore_errors=True)
                self._own_scratch = self._scratch = None

    def _write(self, name: str, arrays: dict[str, np.ndarray], state: RunState) -> None:
        local = self.scratch / name
        with local.open("wb") as handle:
            np.savez(handle, **arrays)  # type: ignore[arg-type]
        self._publish(local, name)
        local.unlink(missing_ok=True)
        self._write_state(state)
        for old in self.directory.glob("step-*.npz"):
            if old.name != name:
                old.unlink(missing_ok=True)

    def _publish(self, local: Path, name: str) -> None:
        # One sequential copy into the output folder, no rename there; the state
        # file that names it is written only after this returns.
        self.directory.mkdir(parents=True, exist_ok=True)
        with local.open("rb") as source, (self.directory / name).open("wb") as target:
            shutil.copyfileobj(source, target, 8 << 20)
            target.flush()
            os.fsync(target.fileno())

    def save_state(self, state: RunState) -> None:
        """Replace ``latest.json`` atomically (after the pending checkpoint writes)."""
        if not self.writable:
            return
        self.flush()
        self._write_state(state)

    def _write_state(self, state: RunState) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        latest = self.directory / STATE_FILE
        if latest.is_file():
            # Whole here: each write of latest.json finished before this one began.
            _write_file(self.directory / PREVIOUS_STATE_FILE, latest.read_bytes())
        _write_file(latest, state.to_json().encode("utf-8"))

    def save_best(self, weights: Sequence[np.ndarray]) -> None:
        """Keep the best epoch's weights (a NumPy archive: no pickle)."""
        if not self.writable:
            return
        buffer = io.BytesIO()
        np.savez(buffer, *weights)
        local = self.scratch / BEST_FILE
        local.write_bytes(buffer.getvalue())
        self._publish(local, BEST_FILE)
        local.unlink(missing_ok=True)

    def load_best(self) -> list[np.ndarray] | None:
        """The weights :meth:`save_best` kept, or ``None``."""
        path = self.directory / BEST_FILE
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as archive:
            return [archive[f"arr_{index}"] for index in range(len(archive.files))]

    def clear_weights(self) -> None:
        """Delete the weights files once the package is written (the state stays)."""
        if not self.writable:
            return
        self.flush()
        for path in [*self.directory.glob("step-*.npz"), self.directory / BEST_FILE]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _write_file(path: Path, data: bytes) -> None:
    # A small file in one write call (no rename: see the module docstring).
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
