"""The words the Train page uses for a run: durations, counts, the resume line and the end-of-run summary.

Pure Python, no Qt: these functions turn numbers and typed run views into
the sentences the page shows in its log and summary.
"""

from __future__ import annotations

from ui.jobs.run_view import RunView, checkpointed

MONITOR_LABELS = {
    "val_accuracy": "validation accuracy",
    "val_loss": "validation loss",
    "accuracy": "training accuracy",
    "loss": "training loss",
}
"""What each metric a run can monitor is called in the GUI."""


def plural(count: int, noun: str) -> str:
    """``plural(1, "epoch")`` -> ``"1 epoch"``, ``plural(3, "epoch")`` -> ``"3 epochs"``."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def format_duration(seconds: float) -> str:
    """``75`` -> ``"1:15"``, ``3725`` -> ``"1:02:05"``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def resume_message(run_dir: str, done: int, epochs: int, fine_tune_epochs: int, extended: bool) -> str:
    """The first log line of a resume: what the run has done and what this session adds.

    Args:
        run_dir: The run folder.
        done: Epochs the run completed before (its ``history.json`` entries).
        epochs: Head-training epochs this session trains.
        fine_tune_epochs: Fine-tuning epochs this session trains.
        extended: True when the run had completed its plan and the page's epochs are added.
    """
    parts = [plural(n, "epoch") + f" {what}" for n, what in ((epochs, "of head training"), (fine_tune_epochs, "of fine-tuning")) if n]
    more = " and ".join(parts)
    total = done + epochs + fine_tune_epochs
    head = f"Resuming the run in {run_dir}: {plural(done, 'epoch')} done"
    if extended:
        return f"{head}, its plan complete; training {more} more as set on this page (to epoch {total})"
    return f"{head}; training the {more} it has left (to epoch {total})"


def run_summary(view: RunView | None) -> str:
    """One paragraph on how a run ended: epochs, the best epoch's figures and where the model is."""
    if view is None:
        return "The run ended without a result."
    best = dict(view.best_metrics)
    if view.cancelled and not view.epochs_completed:
        return "Run cancelled before its first epoch ended: no epoch completed, so no model was saved."
    head = "Run cancelled" if view.cancelled else "Run finished"
    head += f" after {plural(int(view.epochs_completed), 'epoch')}."
    if best:
        epoch = best.get("epoch")
        figures = []
        for key in ("val_accuracy", "val_loss", "accuracy", "loss"):
            if key in best:
                figures.append(f"{MONITOR_LABELS[key]} {best[key]:.4f}" if "loss" in key else f"{MONITOR_LABELS[key]} {best[key]:.3f}")
        where = f" (epoch {int(epoch) + 1})" if isinstance(epoch, (int, float)) else ""
        head += f" Best{where}: " + ", ".join(figures) + "."
    if view.model_path:
        head += f" Model saved to {view.model_path}."
    return head


def elapsed_text(seconds: float) -> str:
    """``"took 1:15"`` under the progress bar once a run ended; ``""`` when it took no measured time."""
    return f"took {format_duration(seconds)}" if seconds else ""


def engine_stopped_text(run_dir: str) -> str:
    """What to say when the engine process died under a run in ``run_dir``: where it can go on from."""
    from tlstudio.run_folders import load_history

    if run_dir and checkpointed(run_dir):
        try:
            done = len(load_history(run_dir))
        except Exception:  # noqa: BLE001 - an unreadable history: say it can resume, without the epoch
            return f"The engine stopped during training; the run in {run_dir} can be resumed (Resume)."
        return f"The engine stopped during training; the run in {run_dir} can be resumed from epoch {done + 1} (Resume)."
    return "The engine stopped during training, before the run's first epoch ended: start it again."
