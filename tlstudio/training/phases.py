"""The two phases of a run: plan them, build the model, and fit the head, then the unfrozen backbone.

:func:`train_phases` is the body of :func:`~tlstudio.training.run.run_training`:
it opens the run (:func:`~tlstudio.training.run_session.open_run`), builds the
model under the strategy, plans each phase's epochs and trainable parameters,
chooses the batch (``--batch-size auto``: :func:`auto_batch`), adapts the
head's input statistics once (:func:`adapt_head`) and fits each phase
(:func:`fit`), retrying a phase once at half the batch after running out of
memory. It records what it built in the :class:`~tlstudio.training.run_session.RunSession`.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import keras
import tensorflow as tf

from tlstudio.cancel import CancelToken
from tlstudio.config import AUTO_BATCH, RunConfig
from tlstudio.data.pixel_cache import PixelCacheCancelled
from tlstudio.events import LogMessage, PhaseChanged, PhasePlan, RunStarted, Sink
from tlstudio.run_folders import run_files
from tlstudio.training import features as feature_cache
from tlstudio.training import head_norm
from tlstudio.training.callbacks import (
    CancelCallback,
    CheckpointCallback,
    EventCallback,
    PhaseEarlyStopping,
    ScalarLogger,
    load_weights,
)
from tlstudio.training.disk_space import check_free, weights_bytes
from tlstudio.training.head_inputs import feature_model, features_for_head
from tlstudio.training.loss import make_loss
from tlstudio.training.optimizers import make_optimizer
from tlstudio.training.run_session import RunSession, open_run, save_usable_model
from tlstudio.training.strategy import any_worker, check_same_run, describe_devices, distribute_ready, eval_batch_size, is_chief, select_strategy, train_steps


def train_phases(
    config: RunConfig,
    session: RunSession,
    sink: Sink,
    cancel: CancelToken,
    strategy: tf.distribute.Strategy | None,
) -> None:
    """Train both phases of ``config`` into ``session``; raises on failure (``run_training`` reports it)."""
    from tlstudio.backbones import resolve_image_size
    from tlstudio.data import make_dataset
    from tlstudio.model import apply_freeze, build_model, find_backbone, find_head, freeze_all, set_compute_precision
    from tlstudio.precision.runtime import resolve as resolve_precision

    train = config.train
    state = session.state
    keras.utils.set_random_seed(train.seed)
    if train.deterministic:
        sink(LogMessage(f"deterministic run: seed {train.seed}, TensorFlow op determinism on (slower; the same seed repeats the weights bit for bit)", "info"))

    opened = open_run(config, session, sink, cancel)
    if opened is None:
        state.cancelled = True
        return
    config, data = opened
    resuming = bool(config.resume_from)
    chief = is_chief()
    run_dir = session.run_dir

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

    plans = plan_phases(model, config, sink)

    batch_size = train.batch_size
    if batch_size == AUTO_BATCH:
        batch_size = auto_batch(model, plans, train, num_train, strategy, sink)
    steps = train_steps(num_train, batch_size, strategy)  # across workers, less a last batch too small to split
    val_steps = math.ceil(num_val / eval_batch_size(num_val, batch_size, strategy)) if has_val else 0

    use_cache = any(p.index == 1 for p in plans) and train.feature_cache == "auto" and not augment.enabled
    session.feature_cache = use_cache
    class_weight = {int(k): float(v) for k, v in data.class_weights.items()} if train.class_weights else None

    sink(
        RunStarted(
            run_dir=str(run_dir),
            class_names=tuple(data.class_names),
            phases=tuple(plans),
            total_epochs=sum(p.epochs for p in plans),
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
            fitted = features_for_head(model, config, data, image_size, batch_size, sink, cancel, train.seed, resuming,
                                        choice.precision, session.cached)
            if fitted is None:
                return None
            train_ds, val_ds, train_features = fitted
            with strategy.scope():  # a model made outside the scope cannot be fitted under it
                fit_model = feature_cache.fit_model(head, config.model.head.pooling)
            if adapt and not resuming and not adapt_head(head, train_features.chunks(), sink):
                return None
            return fit_model, train_ds, val_ds
        if adapt and not resuming and not normalised:
            chunks = head_norm.image_chunks(
                feature_model(model, find_backbone(model)), data.train, image_size, batch_size, sink=sink, cancel=cancel
            )
            if not adapt_head(find_head(model), chunks, sink):
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
        fit(fit_model, model, train_ds, val_ds, plan, first_epoch, class_weight, **common)

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
        session.model_path = save_usable_model(session)


def plan_phases(model: keras.Model, config: RunConfig, sink: Sink) -> list[PhasePlan]:
    """The phases this session trains, with the parameter counts each will see; leaves the backbone frozen.

    A resume trains what its plan has left; freeze mode ``all`` skips the fine-tuning phase (and says so).
    """
    from tlstudio.model import apply_freeze, freeze_all, param_counts

    train = config.train
    head_epochs, session_fine_epochs = config.session_epochs()
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
    return plans


def auto_batch(model, plans, train, num_train: int, strategy, sink: Sink) -> int:
    """The global batch ``--batch-size auto`` chooses (see :mod:`tlstudio.training.batch_auto`), said in the log."""
    from tlstudio.training.batch_auto import choose_batch, free_device_memory, model_totals
    from tlstudio.training.strategy import replicas

    trainable = max((p.trainable_params for p in plans), default=0)
    free, where = free_device_memory()
    choice = choose_batch(model_totals(model, trainable), free, optimizer=train.optimizer, num_train=num_train, where=where)
    sink(LogMessage(choice.sentence(), "info"))
    return choice.batch_size * replicas(strategy)  # each replica's memory holds its share


def adapt_head(head, chunks, sink: Sink) -> bool:
    """Adapt the head's ``head_norm`` from ``chunks``; False when the pass was cancelled."""
    stats = head_norm.adapt_head_normalization(head, chunks)
    if stats is None:
        return False
    sink(LogMessage(stats.sentence(), "info"))
    return True


def fit(fit_model, full_model, train_ds, val_ds, plan, first_epoch, class_weight, *, sink, state, steps, num_train, batch_size, cancel, run_dir, train):
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
