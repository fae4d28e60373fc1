"""``run_training``: one training run of the two-phase transfer-learning recipe.

The recipe (see the Keras transfer-learning guide):

1. Phase 1, ``"head"``: the whole backbone frozen, train the new head for
   ``epochs`` at ``learning_rate``. When augmentation is off and
   ``feature_cache="auto"``, the backbone's features are computed once and
   the head trains on them (:mod:`tlstudio.training.features`).
2. Phase 2, ``"fine_tune"`` (when ``fine_tune_epochs > 0`` and the freeze mode
   is not ``"all"``): unfreeze what :class:`~tlstudio.config.FreezeConfig`
   leaves trainable, recompile with a NEW optimizer at
   ``fine_tune_learning_rate`` and continue the epoch numbering.

The backbone is always called with ``training=False``, so BatchNorm layers
keep their ImageNet statistics in both phases.

Monitoring: the best epoch (checkpoint, early stopping, ``best_metrics``) is
chosen by ``TrainConfig.monitor``. Without a validation split
(``val_fraction=0`` and no ``val`` folder) a ``val_*`` monitor falls back to
the matching training metric, e.g. ``val_accuracy`` -> ``accuracy``.

Errors: :func:`run_training` does not raise. Every failure, a user-fixable
:class:`~tlstudio.errors.TlStudioError` (bad data folder, missing weights) or
any other exception, ends the run with ``RunFinished(error=<one line>,
error_details=<traceback>)`` and a :class:`RunResult` carrying the same.
Only ``KeyboardInterrupt``/``SystemExit`` propagate, after ``RunFinished``
(``cancelled=True``) was sent.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
import traceback
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from tlstudio.cancel import CancelToken, ensure_token
from tlstudio.compat import op_determinism, without_optimizers
from tlstudio.config import AUTO_BATCH, RunConfig
from tlstudio.errors import ConfigError, TlStudioError
from tlstudio.events import (
    LogMessage,
    PhaseChanged,
    PhasePlan,
    RunFinished,
    RunStarted,
    Sink,
    null_sink,
)
from tlstudio.data import manifest as split_manifest
from tlstudio.data.pixel_cache import PixelCacheCancelled
from tlstudio.io.atomic import atomic_path, atomic_write_text
from tlstudio.run_folders import run_files
from tlstudio.training import features as feature_cache
from tlstudio.training import head_norm
from tlstudio.training import result as results
from tlstudio.training import saveguard
from tlstudio.training.disk_space import MARGIN_BYTES, DiskFullError, check_free, file_size, resume_needs, weights_bytes
from tlstudio.training.callbacks import (
    CancelCallback,
    CheckpointCallback,
    EventCallback,
    PhaseEarlyStopping,
    RunState,
    ScalarLogger,
    load_weights,
    safe_sink,
    weights_epochs,
)
from tlstudio.training.loss import make_loss
from tlstudio.training.optimizers import make_optimizer
from tlstudio.api.train import RunResult
from tlstudio.training.run_folder import check_new_run_dir, create_run_dir, remove_worker_scratch, worker_scratch_dir
from tlstudio.training.strategy import any_worker, check_same_run, describe_devices, distribute_ready, eval_batch_size, is_chief, select_strategy, train_steps

logger = logging.getLogger(__name__)

LOSS = "sparse_categorical_crossentropy"


def default_run_dir(config: RunConfig) -> Path:
    """Create and return a new, exclusive ``runs_dir()/<YYYYmmdd-HHMMSS>-<backbone>[-N]`` folder."""
    return create_run_dir("", backbone=config.model.backbone)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, TlStudioError):
        return str(exc)
    if isinstance(exc, DiskFullError):  # its message is written for people: no "[Errno 28]"
        return str(exc.strerror)
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"training failed: {type(exc).__name__}: {first}" if first else f"training failed: {type(exc).__name__}"


@dataclasses.dataclass
class _Session:
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


def run_training(
    config: RunConfig,
    sink: Sink = null_sink,
    cancel: CancelToken | None = None,
    *,
    strategy: tf.distribute.Strategy | None = None,
) -> RunResult:
    """Train a transfer-learning model and write its run folder.

    Events, in order: ``RunStarted`` -> for each phase ``PhaseChanged`` ->
    ``BatchEnd``... -> ``EpochEnd`` (-> ``CheckpointSaved`` when the monitored
    metric improved) ... -> ``RunFinished``, which is sent exactly once, also
    after an error or a cancel. Before ``RunStarted`` the data preparation
    sends ``Progress``/``LogMessage`` events, and the feature cache sends
    ``Progress(stage="features")``.

    Args:
        config: Data, model and training settings. ``config.run_dir`` empty
            makes a new folder under :func:`tlstudio.paths.runs_dir`;
            ``config.resume_from`` continues an earlier run (see
            :func:`tlstudio.training.resume_config`).
        sink: Receives the events. An exception raised by the sink is logged
            and ignored.
        cancel: Checked after every batch; a cancelled run stops within one
            batch, saves ``model.keras`` (best checkpoint, else current weights)
            and reports ``cancelled=True``.
        strategy: A ``tf.distribute`` strategy to train under; None chooses one
            with :func:`tlstudio.training.strategy.select_strategy`.

    Returns:
        The :class:`RunResult`, also written to ``run_dir/result.json``.
    """
    started = time.perf_counter()
    sink = safe_sink(sink)
    cancel = ensure_token(cancel)
    state = RunState(monitor=config.train.monitor, augmentation=config.data.augment.enabled)
    target = config.run_dir or config.resume_from
    session = _Session(run_dir=Path(target) if target else None, state=state)
    error: str | None = None
    details: str | None = None
    error_type: str | None = None
    interrupted: BaseException | None = None
    try:
        with op_determinism(config.train.deterministic):
            _train(config, session, sink, cancel, strategy)
    except Exception as exc:  # noqa: BLE001 - reported through RunFinished, see module docstring
        from tlstudio.data.pipeline import unreadable_image_error

        exc = unreadable_image_error(exc) or exc  # an image broken after the scan: name it, not "Graph execution error"
        error, details, error_type = _one_line(exc), traceback.format_exc(), type(exc).__name__
        logger.debug("training run failed", exc_info=True)
    except (KeyboardInterrupt, SystemExit) as exc:
        state.cancelled = True
        interrupted = exc
    finally:
        session.release_cache()
    # A usable model after a cancel (best checkpoint, else current weights), or after an
    # error once some epoch was trained; never an untrained model for a run that failed.
    # No epoch completed (in any session): no model.keras, nothing that looks trained.
    # After an error, only when this session saved an epoch (a resume that saved nothing keeps its model.keras).
    new_epochs = state.epochs_saved > session.epochs_at_start
    if (session.owns_dir and session.model is not None and session.model_path is None and state.epochs_saved
            and (error is None or new_epochs)):
        try:
            session.model_path = _save_usable_model(session)
        except Exception as exc:  # noqa: BLE001
            if error is None:
                error, details, error_type = _one_line(exc), traceback.format_exc(), type(exc).__name__
            logger.warning("could not save model.keras into %s: %s", session.run_dir, exc)
        except KeyboardInterrupt as exc:  # an abort during the save: the previous model.keras is kept whole
            interrupted = interrupted or exc
    elif session.owns_dir and session.run_dir is not None and (session.run_dir / run_files.MODEL).is_file():
        session.model_path = str(session.run_dir / run_files.MODEL)  # a resume that saved nothing: the model on disk still holds
    best = dict(state.best_metrics)
    saved = state.history[: state.epochs_saved]  # the epochs whose weights are on disk
    outcome = RunResult(
        run_dir=str(session.run_dir) if session.run_dir is not None else "",
        model_path=session.model_path,
        best_metrics=best,
        history=tuple(dict(h) for h in saved),
        class_names=session.class_names,
        cancelled=state.cancelled or cancel.cancelled,
        error=error,
        error_details=details,
        epochs_completed=len(saved),
        feature_cache=session.feature_cache,
        seconds=round(time.perf_counter() - started, 3),
        monitor=state.monitor,
        devices=session.devices,
        error_type=error_type,
        versions=results.software_versions(),
    )
    try:
        _write_outcome(session, outcome)
    except KeyboardInterrupt as exc:
        interrupted = interrupted or exc
    finally:
        session.unlock()  # after the last write: another training of this folder may start now
    if session.scratch:
        outcome = _drop_scratch(session, outcome, sink)
    sink(
        RunFinished(
            cancelled=outcome.cancelled,
            error=error,
            error_details=details,
            best_metrics=best,
            model_path=outcome.model_path,
            run_dir=outcome.run_dir,
            epochs_completed=outcome.epochs_completed,
        )
    )
    if interrupted is not None:
        raise interrupted
    return outcome


# --------------------------------------------------------------------------- the run


def _train(
    config: RunConfig,
    session: _Session,
    sink: Sink,
    cancel: CancelToken,
    strategy: tf.distribute.Strategy | None,
) -> None:
    from tlstudio.backbones import resolve_image_size
    from tlstudio.data import make_dataset, prepare_data
    from tlstudio.data.decisions import decisions_report
    from tlstudio.model import apply_freeze, build_model, find_backbone, find_head, freeze_all, param_counts, set_compute_precision
    from tlstudio.precision.runtime import resolve as resolve_precision

    train = config.train
    state = session.state
    keras.utils.set_random_seed(train.seed)
    if train.deterministic:
        sink(LogMessage(f"deterministic run: seed {train.seed}, TensorFlow op determinism on (slower; the same seed repeats the weights bit for bit)", "info"))

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
            state.cancelled = True
            return
        data, new_manifest = reconciled.data, reconciled.manifest
    else:
        if resuming:
            sink(LogMessage(f"{config.resume_from} has no {split_manifest.MANIFEST_FILE} (made by an older version): the folder is split again with the run's seed", "warning"))
        data = prepare_data(config.data, sink=sink, cancel=cancel)
        if data.cancelled:
            session.class_names = tuple(data.class_names)
            state.cancelled = True
            return
        new_manifest = split_manifest.manifest_from_data(data, config.data)
    session.class_names = tuple(data.class_names)
    state.class_counts = tuple(int(data.counts.get("train", {}).get(name, 0)) for name in data.class_names)

    if resuming:
        _load_previous(config, session, sink)
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

    has_val = len(data.val) > 0
    if state.monitor.startswith("val_") and not has_val:
        state.monitor = state.monitor[len("val_") :]
        sink(LogMessage(f"no validation split: monitoring '{state.monitor}' on the training data instead", "warning"))

    image_size = resolve_image_size(config.model.backbone, config.model.image_size)
    strategy = strategy or select_strategy()
    check_same_run(strategy, config, data)  # across workers: the same settings and the same split, or a clear error
    choice = resolve_precision(train.precision)
    session.precision = choice.precision
    session.devices = describe_devices(strategy, precision=f"{choice.precision} ({choice.reason})")
    sink(LogMessage(f"precision: {choice.sentence()}", "info"))
    num_train, num_val = len(data.train), len(data.val)

    augment = config.data.augment
    with strategy.scope():
        model = build_model(config.model, data.num_classes, augment=augment, seed=train.seed)
    set_compute_precision(model, choice.precision)
    session.model = model
    if resuming:
        load_weights(model, str(Path(config.resume_from) / run_files.LAST_WEIGHTS))
    elif chief:  # last.weights.h5, best.weights.h5 and model.keras, each about the weights' size
        check_free(run_dir, 3 * weights_bytes(model), "the run's checkpoints and model (3 copies of the weights)")
    session.epochs_at_start = state.epochs_saved

    # Plan both phases: parameter counts as each phase will see them.
    head_epochs, session_fine_epochs = config.session_epochs()  # a resume trains what its plan has left
    fine_epochs = session_fine_epochs if config.model.freeze.mode != "all" else 0
    if session_fine_epochs and not fine_epochs:
        sink(LogMessage("freeze mode 'all' keeps the backbone frozen: the fine-tuning phase is skipped", "warning"))
    plans = []
    if fine_epochs:
        apply_freeze(model, config.model.freeze)
        counts = param_counts(model)
        plans.append(PhasePlan(2, "fine_tune", fine_epochs, train.fine_tune_learning_rate, counts.trainable, counts.non_trainable))
    freeze_all(model)
    if head_epochs:
        counts = param_counts(model)
        plans.insert(0, PhasePlan(1, "head", head_epochs, train.learning_rate, counts.trainable, counts.non_trainable))

    batch_size = train.batch_size
    if batch_size == AUTO_BATCH:
        batch_size = _auto_batch(model, plans, train, num_train, strategy, sink)
    steps = train_steps(num_train, batch_size, strategy)  # across workers, less a last batch too small to split
    val_steps = math.ceil(num_val / eval_batch_size(num_val, batch_size, strategy)) if has_val else 0

    use_cache = bool(head_epochs) and train.feature_cache == "auto" and not augment.enabled
    session.feature_cache = use_cache
    class_weight = {int(k): float(v) for k, v in data.class_weights.items()} if train.class_weights else None

    sink(
        RunStarted(
            run_dir=str(run_dir),
            class_names=tuple(data.class_names),
            phases=tuple(plans),
            total_epochs=head_epochs + fine_epochs,
            steps_per_epoch=steps,
            validation_steps=val_steps,
            num_train=num_train,
            num_val=num_val,
            batch_size=batch_size,
            feature_cache=use_cache,
            devices=session.devices,
        )
    )

    def image_data():
        """The image datasets; None when cancelled while the decoded-image cache was written."""
        try:
            train_ds = make_dataset(data.train, image_size, batch_size, shuffle=True, seed=train.seed, sink=sink, cancel=cancel)
            val_ds = make_dataset(data.val, image_size, batch_size, sink=sink, cancel=cancel) if has_val else None
        except PixelCacheCancelled:
            return None
        return train_ds, val_ds

    common = dict(sink=sink, state=state, steps=steps, num_train=num_train, batch_size=batch_size, cancel=cancel, run_dir=run_dir, train=train)

    # The head's input statistics are adapted once per run, before its first epoch;
    # a resumed run has them in last.weights.h5 already.
    normalised = False

    def prepare(plan: PhasePlan, *, adapt: bool):
        """``(fit_model, train_ds, val_ds)`` of a phase at the current batch size; None when cancelled."""
        if plan.index == 1 and use_cache:
            head = find_head(model)
            fitted = _features_for_head(model, config, data, image_size, batch_size, sink, cancel, train.seed, resuming,
                                        choice.precision, session.cached)
            if fitted is None:
                return None
            train_ds, val_ds, train_features = fitted
            with strategy.scope():  # a model made outside the scope cannot be fitted under it
                fit_model = feature_cache.fit_model(head, config.model.head.pooling)
            if adapt and not resuming and not _adapt(head, train_features.chunks(), sink):
                return None
            return fit_model, train_ds, val_ds
        if adapt and not resuming and not normalised:
            chunks = head_norm.image_chunks(
                feature_model(model, find_backbone(model)), data.train, image_size, batch_size, sink=sink, cancel=cancel
            )
            if not _adapt(find_head(model), chunks, sink):
                return None
        datasets = image_data()
        if datasets is None:
            return None
        return model, datasets[0], datasets[1]

    def fit_phase(plan: PhasePlan, first_epoch: int, fit_model, train_ds, val_ds) -> None:
        with strategy.scope():
            optimizer = make_optimizer(train, plan.learning_rate, steps, plan.epochs)
            if choice.loss_scale:  # float16 gradients underflow without it (the Keras mixed-precision guide)
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            fit_model.compile(optimizer=optimizer, loss=make_loss(train), metrics=["accuracy"], jit_compile=choice.jit_compile)
        train_ds, val_ds = distribute_ready(train_ds, val_ds, num_train=num_train, num_val=num_val, batch_size=batch_size, strategy=strategy)
        _fit(fit_model, model, train_ds, val_ds, plan, first_epoch, class_weight, **common)

    for plan in plans:
        if cancel.cancelled:
            state.cancelled = True
            break
        state.phase = plan.index
        first_epoch = state.epochs_completed
        sink(
            PhaseChanged(
                phase=plan.index,
                name=plan.name,
                first_epoch=first_epoch,
                epochs=plan.epochs,
                learning_rate=plan.learning_rate,
                trainable_params=plan.trainable_params,
                non_trainable_params=plan.non_trainable_params,
            )
        )
        if plan.index == 1:
            freeze_all(model)
        else:
            apply_freeze(model, config.model.freeze)
        prepared = prepare(plan, adapt=True)
        if prepared is None:
            state.cancelled = True
            break
        normalised = True
        try:
            fit_phase(plan, first_epoch, *prepared)
        except tf.errors.ResourceExhaustedError as exc:
            if batch_size <= 1 or state.cancelled:
                raise
            done = state.epochs_completed - first_epoch
            old, batch_size = batch_size, max(1, batch_size // 2)
            steps = train_steps(num_train, batch_size, strategy)
            common.update(steps=steps, batch_size=batch_size)
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            sink(LogMessage(f"out of memory at batch {old} ({first_line}): retrying phase {plan.index} once at batch "
                            f"{batch_size}, from epoch {state.epochs_completed + 1}", "warning"))
            plan = dataclasses.replace(plan, epochs=plan.epochs - done)
            first_epoch = state.epochs_completed
            prepared = prepare(plan, adapt=False) if plan.epochs > 0 else None
            if prepared is None:
                state.cancelled = state.cancelled or plan.epochs > 0
                if state.cancelled:
                    break
                continue
            fit_phase(plan, first_epoch, *prepared)  # a second out-of-memory error ends the run, named
        if state.cancelled:
            break

    if state.epochs_saved:  # a run cancelled before its first epoch ended saves no model
        session.model_path = _save_usable_model(session)


def _auto_batch(model, plans, train, num_train: int, strategy, sink: Sink) -> int:
    """The global batch ``--batch-size auto`` chooses (see :mod:`tlstudio.training.batch_auto`), said in the log."""
    from tlstudio.training.batch_auto import choose_batch, free_device_memory, model_totals
    from tlstudio.training.strategy import replicas

    trainable = max((p.trainable_params for p in plans), default=0)
    free, where = free_device_memory()
    choice = choose_batch(model_totals(model, trainable), free, optimizer=train.optimizer, num_train=num_train, where=where)
    sink(LogMessage(choice.sentence(), "info"))
    return choice.batch_size * replicas(strategy)  # each replica's memory holds its share


def _adapt(head, chunks, sink: Sink) -> bool:
    """Adapt the head's ``head_norm`` from ``chunks``; False when the pass was cancelled."""
    stats = head_norm.adapt_head_normalization(head, chunks)
    if stats is None:
        return False
    sink(LogMessage(stats.sentence(), "info"))
    return True


def _fit(fit_model, full_model, train_ds, val_ds, plan, first_epoch, class_weight, *, sink, state, steps, num_train, batch_size, cancel, run_dir, train):
    callbacks: list[keras.callbacks.Callback] = [
        EventCallback(
            sink,
            state,
            phase=plan.index,
            steps=steps,
            num_samples=num_train,
            batch_size=batch_size,
            optimizer=lambda: fit_model.optimizer,
        ),
        CancelCallback(cancel, state, any_worker(fit_model.distribute_strategy)),  # after the events: a sink may cancel on a BatchEnd
        CheckpointCallback(
            full_model,
            str(run_dir),
            state,
            sink,
            best_name=run_files.BEST_WEIGHTS,
            last_name=run_files.LAST_WEIGHTS,
            history_name=run_files.HISTORY,
            defer_writes=fit_model is not full_model,
        ),
    ]
    if train.early_stopping:
        callbacks.append(PhaseEarlyStopping(state, train.patience))
    if train.tensorboard:
        callbacks.append(ScalarLogger(str(run_dir / run_files.LOGS), state))
    fit_model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=first_epoch + plan.epochs,
        initial_epoch=first_epoch,
        class_weight=class_weight,
        callbacks=callbacks,
        shuffle=False,  # the datasets shuffle themselves, reproducibly
        verbose=0,
    )


def feature_model(model: keras.Model, backbone: keras.Model) -> keras.Model:
    """Raw RGB images -> backbone output, sharing the model's layers.

    Rebuilds the model's chain from its input up to and including the
    backbone (``preprocess`` and any layer before the backbone), calling the
    backbone with ``training=False``. Augmentation is skipped: it is off
    outside training anyway.
    """
    inputs = keras.Input(shape=model.inputs[0].shape[1:], dtype=model.inputs[0].dtype, name="images")
    x = inputs
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer) or layer.name == "augmentation":
            continue
        x = layer(x, training=False)
        if layer is backbone:
            break
    else:
        raise ValueError(f"the model has no backbone layer named {backbone.name!r}. Received layers: {[l.name for l in model.layers]}")
    return keras.Model(inputs, x, name="features")


def _features_for_head(model, config, data, image_size, batch_size, sink, cancel, seed, resuming, precision, held: list):
    """(train_ds, val_ds, train CachedFeatures) of cached features, or None when cancelled.

    Each split's entry is appended to ``held`` as soon as it is made: it stays
    pinned (the cache's eviction leaves it alone, in this process and in
    others) until the run releases it, so the val split's extraction, or
    another training sharing the cache, never evicts the train split's
    shards while they are read.

    Average and max heads train on cached pooled vectors, a flatten head on
    cached float16 maps (:mod:`tlstudio.training.features`); the datasets
    read them from disk batch by batch. A new run's backbone holds exactly its
    weights source, so the weights file's stamp keys the cache (shared with
    the probe and sweeps); random weights and a resumed run's backbone are
    keyed by a hash of their values.
    """
    from tlstudio.features.pooled_cache import weights_stamp

    pooling = config.model.head.pooling
    weights_id = None
    if not resuming and config.model.weights != "none":
        weights_id = weights_stamp(config.model.backbone, config.model.weights, image_size)
    out = []
    train_features = None
    for split, items, shuffle in (("train", data.train, True), ("val", data.val, False)):
        if not items:
            out.append(None)
            continue
        cached = feature_cache.cached_features(
            items, backbone=config.model.backbone, weights=config.model.weights, image_size=image_size,
            pooling=pooling, model=model, weights_id=weights_id, batch_size=batch_size, sink=sink, cancel=cancel,
            split=split, precision=precision,
        )
        if cached is None:
            return None
        held.append(cached)
        if split == "train":
            train_features = cached
        out.append(cached.dataset(batch_size, shuffle=shuffle, seed=seed))
    return out[0], out[1], train_features


# --------------------------------------------------------------------------- run folder


def _load_previous(config: RunConfig, session: _Session, sink: Sink) -> None:
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


def _save_usable_model(session: _Session) -> str | None:
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


def _write_outcome(session: _Session, outcome: RunResult) -> None:
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


def _drop_scratch(session: _Session, outcome: RunResult, sink: Sink) -> RunResult:
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
