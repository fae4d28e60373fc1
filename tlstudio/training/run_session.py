"""One training run's session: what it holds, its run folder's files, and the model it leaves.

:class:`RunSession` is what one call of :func:`~tlstudio.training.run.run_training`
builds up (the folder, its locks, the model, the pinned feature cache
entries), for the final report. :func:`open_run` claims the folder, splits the
data and writes the run's first files; :func:`load_previous` continues a
resumed run's history; :func:`save_usable_model`, :func:`write_outcome` and
:func:`drop_scratch` leave the folder whole when the run ends, however it ends.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from tlstudio.api.train import RunResult
from tlstudio.cancel import CancelToken
from tlstudio.compat import without_optimizers
from tlstudio.config import RunConfig
from tlstudio.data import manifest as split_manifest
from tlstudio.errors import ConfigError
from tlstudio.events import LogMessage, Sink
from tlstudio.io.atomic import atomic_path, atomic_write_text
from tlstudio.run_folders import run_files
from tlstudio.training import result as results
from tlstudio.training import saveguard
from tlstudio.training.callbacks import RunState, load_weights, weights_epochs
from tlstudio.training.disk_space import MARGIN_BYTES, check_free, file_size, resume_needs, weights_bytes
from tlstudio.training.run_folder import check_new_run_dir, create_run_dir, remove_worker_scratch, worker_scratch_dir
from tlstudio.training.cluster import is_chief

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class RunSession:
    """What one call of run_training builds up, for the final report."""

    run_dir: Path | None
    state: RunState
    owns_dir: bool = False
    model: Any = None
    class_names: tuple[str, ...] = ()
    feature_cache: bool = False
    devices: str = ""
    precision: str = "float32"
    model_path: str | None = None
    scratch: bool = False  # a non-chief worker's temporary run folder, deleted at the end
    epochs_at_start: int = 0  # epochs on disk when this session began (a resume's earlier ones)
    cached: list = dataclasses.field(default_factory=list)  # feature-cache entries read by this run (pinned)
    locks: list = dataclasses.field(default_factory=list)  # the run folders this run holds (tlstudio.run_folders.lock)

    def lock(self, folder) -> None:
        """Hold ``folder`` for this run, unless held already; RunFolderInUse names the other training."""
        from tlstudio.run_folders.lock import lock_run_folder
        from tlstudio.training.run_folder import same_folder

        if not any(same_folder(held.folder, folder) for held in self.locks):
            self.locks.append(lock_run_folder(folder))

    def unlock(self) -> None:
        while self.locks:
            self.locks.pop().release()

    def release_cache(self) -> None:
        """Let the feature cache evict this run's entries again."""
        for features in self.cached:
            features.release()
        self.cached.clear()


def open_run(config: RunConfig, session: RunSession, sink: Sink, cancel: CancelToken) -> tuple[RunConfig, Any] | None:
    """Claim the run folder, split the dataset and write the run's first files; None when cancelled.

    A resume is locked and its disk space checked before anything is read;
    a new run's folder is refused (someone else's, non-empty) before the slow
    data preparation. The split comes from the run's manifest when it has one.
    Only the chief of a multi-worker run writes the real folder; other workers
    write a temporary one (``session.scratch``).

    Returns:
        ``(config, data)``: the config with its dataset folder made absolute,
        and the :class:`~tlstudio.data.PreparedData` of its split.
    """
    from tlstudio.data import prepare_data
    from tlstudio.data.decisions import decisions_report

    state = session.state
    resuming = bool(config.resume_from)
    chief = is_chief()
    if resuming and chief:  # before anything of the run is read: one training per run folder at a time
        session.lock(config.resume_from)
        # before anything is written: a resume rewrites its checkpoints, one whole copy at a time
        check_free(config.resume_from, resume_needs(config.resume_from), "resuming the run (a new copy of its checkpoints)")
    if config.run_dir and chief:  # refuse someone else's folder before the slow data preparation
        check_new_run_dir(config.run_dir, config.resume_from)
    new_manifest = None
    stored = split_manifest.read_manifest(config.resume_from) if resuming else None
    # the dataset folder is stored absolute; an older run's relative one is its manifest's root, never today's working folder
    root = config.data.root and (split_manifest.dataset_root(config.data.root, stored, config.resume_from) if resuming else os.path.abspath(config.data.root))
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, root=root))
    if stored is not None:
        reconciled = split_manifest.prepare_from_manifest(stored, config.data, assign_new=True, sink=sink, cancel=cancel)
        if reconciled is None:
            return None
        data, new_manifest = reconciled.data, reconciled.manifest
    else:
        if resuming:
            sink(LogMessage(f"{config.resume_from} has no {split_manifest.MANIFEST_FILE} (made by an older version): the folder is split again with the run's seed", "warning"))
        data = prepare_data(config.data, sink=sink, cancel=cancel)
        if data.cancelled:
            session.class_names = tuple(data.class_names)
            return None
        new_manifest = split_manifest.manifest_from_data(data, config.data)
    session.class_names = tuple(data.class_names)
    state.class_counts = tuple(int(data.counts.get("train", {}).get(name, 0)) for name in data.class_names)

    if resuming:
        load_previous(config, session, sink)
    if not chief:  # multi-worker: only the chief writes the real run folder
        session.run_dir = worker_scratch_dir()
        session.scratch = True
    else:
        session.run_dir = create_run_dir(
            config.run_dir or config.resume_from, backbone=config.model.backbone, resume_from=config.resume_from
        )
        session.lock(session.run_dir)
    session.owns_dir = True
    run_dir = session.run_dir
    with saveguard.saving():
        if not resuming:
            atomic_write_text(run_dir / run_files.RUN_CONFIG, results.config_snapshot(config))
        results.write_json(run_dir / run_files.CLASS_NAMES, list(data.class_names))
        results.write_json(run_dir / run_files.DATASET_REPORT, {**data.to_dict(), "decisions": decisions_report(config.data, data)})
        split_manifest.write_manifest(run_dir, new_manifest)
    return config, data


def load_previous(config: RunConfig, session: RunSession, sink: Sink) -> None:
    """Continue the history, best value and class names of ``config.resume_from``.

    The history is cut to the epochs ``last.weights.h5`` holds (its recorded
    epoch count), so a session killed between the two writes resumes from a
    consistent state.
    """
    folder = Path(config.resume_from)
    last = folder / run_files.LAST_WEIGHTS
    if not last.is_file():
        raise ConfigError(
            f"cannot resume from {folder}: it has no {run_files.LAST_WEIGHTS} (no epoch was completed). Received: resume_from={str(folder)!r}"
        )
    previous = results.load_run(folder)
    if previous.class_names and tuple(previous.class_names) != session.class_names:
        raise ConfigError(
            f"cannot resume from {folder}: its classes {list(previous.class_names)} differ from the dataset's {list(session.class_names)}."
        )
    state = session.state
    history = [dict(h) for h in previous.history]
    held = weights_epochs(last)
    if held is not None and held < len(history):
        sink(LogMessage(f"{last} holds {held} epochs but {run_files.HISTORY} lists {len(history)}: continuing after epoch {held}", "warning"))
        history = history[:held]
    elif held is not None and held > len(history):
        sink(LogMessage(f"{last} holds {held} epochs, one more than {run_files.HISTORY} recorded (a session was stopped between the two writes)", "warning"))
    state.history = history
    state.epochs_saved = len(history)
    if previous.best_metrics and previous.monitor in previous.best_metrics:
        state.best_value = float(previous.best_metrics[previous.monitor])
        state.best_metrics = dict(previous.best_metrics)


def save_usable_model(session: RunSession) -> str | None:
    """Save ``model.keras`` with the best checkpoint's weights, else the current ones."""
    model = session.model
    if model is None or session.run_dir is None:
        return None
    best = session.run_dir / run_files.BEST_WEIGHTS
    if best.is_file():
        load_weights(model, str(best))
    if session.precision != "float32":  # the saved model computes in float32: the app's numbers and exports match
        from tlstudio.model import set_compute_precision

        set_compute_precision(model, "float32")
        session.precision = "float32"
    path = session.run_dir / run_files.MODEL
    check_free(session.run_dir, max(file_size(path) + MARGIN_BYTES, weights_bytes(model)), f"the model {run_files.MODEL}")
    with saveguard.saving(), without_optimizers(model), atomic_path(path) as tmp:
        model.save(str(tmp))
    return str(path)


def write_outcome(session: RunSession, outcome: RunResult) -> None:
    if not session.owns_dir or session.run_dir is None or not session.run_dir.is_dir():
        return  # failed before the run folder was made (e.g. unusable data, a folder in use): write nothing
    try:
        with saveguard.saving():
            results.write_json(session.run_dir / run_files.HISTORY, [dict(h) for h in outcome.history])
            data = outcome.to_dict()
            data.pop("history", None)
            results.write_json(session.run_dir / run_files.RESULT, data)
    except OSError as exc:
        logger.warning("could not write the run result into %s: %s", session.run_dir, exc)


def drop_scratch(session: RunSession, outcome: RunResult, sink: Sink) -> RunResult:
    """Delete a non-chief worker's temporary run folder; its result then names no folder and no model."""
    from tlstudio.training.cluster import role

    me = role()
    try:
        remove_worker_scratch(session.run_dir, index=me.index if me else 0)
    except Exception as exc:  # noqa: BLE001 - the run is over; say what is left behind
        logger.warning("could not delete the worker's temporary run folder %s", session.run_dir, exc_info=True)
        sink(LogMessage(f"could not delete this worker's temporary run folder {session.run_dir}: {exc}", "warning"))
        return outcome
    return dataclasses.replace(outcome, run_dir="", model_path=None)
