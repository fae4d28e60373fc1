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

import logging
import time
import traceback
from pathlib import Path

import tensorflow as tf

from tlstudio.api.train import RunResult
from tlstudio.cancel import CancelToken, ensure_token
from tlstudio.compat import op_determinism
from tlstudio.config import RunConfig
from tlstudio.errors import TlStudioError
from tlstudio.events import RunFinished, Sink, null_sink
from tlstudio.run_folders import run_files
from tlstudio.training import result as results
from tlstudio.training.callbacks import RunState, safe_sink
from tlstudio.training.disk_space import DiskFullError
from tlstudio.training.phases import train_phases
from tlstudio.training.run_session import RunSession, drop_scratch, save_usable_model, write_outcome

logger = logging.getLogger(__name__)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, TlStudioError):
        return str(exc)
    if isinstance(exc, DiskFullError):  # its message is written for people: no "[Errno 28]"
        return str(exc.strerror)
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"training failed: {type(exc).__name__}: {first}" if first else f"training failed: {type(exc).__name__}"


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
    session = RunSession(run_dir=Path(target) if target else None, state=state)
    error: str | None = None
    details: str | None = None
    error_type: str | None = None
    interrupted: BaseException | None = None
    try:
        with op_determinism(config.train.deterministic):
            train_phases(config, session, sink, cancel, strategy)
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
            session.model_path = save_usable_model(session)
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
        write_outcome(session, outcome)
    except KeyboardInterrupt as exc:
        interrupted = interrupted or exc
    finally:
        session.unlock()  # after the last write: another training of this folder may start now
    if session.scratch:
        outcome = drop_scratch(session, outcome, sink)
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
