"""The Label page's engine work and file work: configs of the two jobs, filing a batch, undo, promotion.

The jobs (:mod:`tlstudio.jobs.label`) run in the engine: ``label_suggest``
ranks the unsorted folder, ``label_retrain`` refits the run's head and gives
one point of the learning curve. Filing the decided images is plain file
work (:mod:`tlstudio.data.labelling`), done here in the GUI process: a batch
is a few dozen copies. After each change the project's record
(:class:`~tlstudio.project.label_record.LabelRecord`) and the dataset's
``train_only`` list are updated together, so every later job (and the run a
head is promoted to) trains on the new images and validates on the same files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import Sequence

from tlstudio import paths
from tlstudio.api.label import AppliedBatch, RetrainConfig, SuggestConfig
from tlstudio.config import RunConfig
from tlstudio.data.labelling import apply_labels, undo_batch
from tlstudio.project.label_record import LabelRecord, LabelRound
from tlstudio.run_folders import load_run_config
from ui.state import AppState


def head_folder(record: LabelRecord) -> str:
    """Where the refitted heads of this loop are kept (the app's cache, one folder per pool and run)."""
    key = hashlib.sha256(f"{os.path.abspath(record.pool)}|{os.path.abspath(record.run_dir)}".encode()).hexdigest()[:16]
    return str(paths.cache_dir("label-heads", key))


def data_config(state: AppState, record: LabelRecord):
    """The dataset the loop grows: the open one (or the run's), with the loop's images training only."""
    data = state.data_config
    if not data.root:
        data = load_run_config(record.run_dir).data
    return dataclasses.replace(data, train_only=record.targets())


def suggest_config(state: AppState, record: LabelRecord, *, exclude: Sequence[str] = ()) -> SuggestConfig:
    """The next batch's config: the latest refitted head, everything decided so far left out."""
    head, classes = record.head()
    return SuggestConfig(pool=record.pool, run_dir=record.run_dir, data=data_config(state, record), n=record.n,
                         strategy=record.strategy, seed=len(record.rounds), labelled=record.labelled(),
                         exclude=tuple(dict.fromkeys((*record.skipped(), *exclude))),
                         head_file=head if head and os.path.isfile(head) else "",
                         head_classes=classes if head and os.path.isfile(head) else ())


def retrain_config(state: AppState, record: LabelRecord) -> RetrainConfig:
    """The refit after the latest round (or before the first: the baseline), its head saved for the next suggestion."""
    name = f"round-{len(record.rounds)}.keras"
    return RetrainConfig(run_dir=record.run_dir, data=data_config(state, record), pool=record.pool,
                         labelled=record.labelled(), head_file=os.path.join(head_folder(record), name),
                         strategy=record.strategy)


def file_batch(state: AppState, record: LabelRecord, decisions: Sequence[tuple[str, str]], skipped: Sequence[str]) -> AppliedBatch:
    """Copy (or move) the decided images into the dataset, record the round and send the images to training.

    Raises:
        DataError: the dataset folder does not exist (nothing is filed).
    """
    root = data_config(state, record).root
    batch = apply_labels(decisions, root, move=record.move)
    record.rounds.append(LabelRound(record.strategy, batch, tuple(skipped)))
    _sync_train_only(state, record)
    return batch


def undo_last(state: AppState, record: LabelRecord) -> AppliedBatch:
    """Reverse the last round's filing and forget the round (and its point of the curve).

    Returns:
        What was put back; ``errors`` name the images left in the dataset (the round is then kept for them).
    """
    last = record.rounds[-1]
    undone = undo_batch(last.batch)
    kept = tuple(p for p in last.batch.placed if p not in undone.placed)
    if kept:
        last.batch = AppliedBatch(last.batch.dataset, kept, last.batch.errors)
    else:
        record.rounds.pop()
    _sync_train_only(state, record)
    return undone


def _sync_train_only(state: AppState, record: LabelRecord) -> None:
    if state.data_config.root and tuple(state.data_config.train_only) != record.targets():
        state.update_data_config(train_only=record.targets())


def promoted_run(state: AppState, record: LabelRecord, *, fine_tune_epochs: int) -> RunConfig:
    """The full run of the loop's dataset with the run's model, head, cut and settings (fine-tuning when asked)."""
    from ui.jobs.sweep_jobs import fine_tune_freeze

    run = load_run_config(record.run_dir)
    model = run.model
    if fine_tune_epochs and model.freeze.mode == "all":
        model = dataclasses.replace(model, freeze=fine_tune_freeze(model))
    train = dataclasses.replace(run.train, fine_tune_epochs=int(fine_tune_epochs))
    return RunConfig(data=data_config(state, record), model=model, train=train)
