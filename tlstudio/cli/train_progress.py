"""What ``tlstudio-cli train`` prints while it trains and when it ends.

:class:`ProgressPrinter` is the run's sink: a progress bar with an ETA on
stderr (redrawn in place on a terminal, a line every few seconds in a log).
:func:`summary` is the final report on stdout.
"""

from __future__ import annotations

import sys
import time

def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _n(count: int, noun: str) -> str:
    """``"1 epoch"``, ``"3 epochs"``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


class ProgressPrinter:
    """A sink that draws a text progress bar with ETA on ``stream``.

    On a terminal the bar is redrawn in place with ``\\r``; otherwise (a log
    file, CI) a line is printed at most every ``interval`` seconds and at each
    epoch end.
    """

    def __init__(self, stream=None, *, tty: bool | None = None, interval: float = 10.0, width: int = 24):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval
        self.width = width
        self.total_steps = 0
        self.steps_per_epoch = 0
        self.total_epochs = 0
        self.first_epoch = 0
        self._last_print = 0.0
        self._phase_start: tuple[float, int] | None = None
        self._dirty = False

    def _write(self, text: str, *, final: bool) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
            self._dirty = not final
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def _newline(self) -> None:
        if self.tty and self._dirty:
            self.stream.write("\n")
            self._dirty = False

    def __call__(self, event: object) -> None:
        from tlstudio import events as ev

        now = time.monotonic()
        if isinstance(event, ev.Progress):
            if self.tty or event.done in (0, event.total) or now - self._last_print >= self.interval:
                self._last_print = now
                self._write(f"{event.stage}: {event.message or f'{event.done}/{event.total}'}", final=event.done >= event.total > 0)
        elif isinstance(event, ev.LogMessage):
            self._newline()
            self._write(f"{event.level}: {event.message}", final=True)
        elif isinstance(event, ev.RunStarted):
            self.total_epochs = event.total_epochs
            self.steps_per_epoch = max(1, event.steps_per_epoch)
            self.total_steps = event.total_epochs * self.steps_per_epoch
            cache = ", backbone features cached" if event.feature_cache else ""
            self._newline()
            self._write(
                f"training on {event.num_train} images ({event.num_val} validation), {len(event.class_names)} classes, "
                f"{_n(event.total_epochs, 'epoch')} x {_n(event.steps_per_epoch, 'step')}, batch {event.batch_size}; {event.devices}{cache}",
                final=True,
            )
            self._write(f"run folder: {event.run_dir}", final=True)
        elif isinstance(event, ev.PhaseChanged):
            self._newline()
            self._phase_start = None
            self._write(
                f"phase {event.phase} ({event.name}): {_n(event.epochs, 'epoch')} at lr {event.learning_rate:g}, "
                f"{event.trainable_params:,} trainable / {event.non_trainable_params:,} frozen parameters",
                final=True,
            )
        elif isinstance(event, ev.BatchEnd):
            if self._phase_start is None:
                self._phase_start = (now, event.global_step - 1)
            if not self.tty and now - self._last_print < self.interval:
                return
            self._last_print = now
            start_t, start_step = self._phase_start
            done_in_phase = event.global_step - start_step
            rate = (now - start_t) / done_in_phase if done_in_phase > 0 else 0.0
            done_steps = event.epoch * self.steps_per_epoch - self.first_epoch * self.steps_per_epoch + event.batch + 1
            remaining = max(0, self.total_steps - done_steps)
            frac = (event.batch + 1) / max(1, event.steps)
            filled = int(round(frac * self.width))
            bar = "#" * filled + "." * (self.width - filled)
            self._write(
                f"epoch {event.epoch + 1} [{bar}] {event.batch + 1}/{event.steps} loss {event.loss:.4f} "
                f"acc {event.accuracy:.3f} {event.images_per_sec:.1f} img/s ETA {_clock(remaining * rate)}",
                final=False,
            )
        elif isinstance(event, ev.EpochEnd):
            m = event.metrics
            val = ""
            if "val_loss" in m:
                val = f" val_loss {m['val_loss']:.4f} val_acc {m.get('val_accuracy', float('nan')):.3f}"
            self._write(
                f"epoch {event.epoch + 1} phase {event.phase}: loss {m.get('loss', float('nan')):.4f} "
                f"acc {m.get('accuracy', float('nan')):.3f}{val} ({event.seconds:.1f} s)",
                final=True,
            )
        elif isinstance(event, ev.CheckpointSaved):
            self._write(f"  best {event.monitor} {event.value:.4f}: saved {event.path}", final=True)
        elif isinstance(event, ev.RunFinished):
            self._newline()

    def set_first_epoch(self, epoch: int) -> None:
        """Epoch index where this session starts (a resumed run's earlier epochs)."""
        self.first_epoch = epoch


def summary(result, worker=None) -> str:
    """The final human-readable summary of a run.

    Args:
        result: The :class:`~tlstudio.training.result.RunResult`.
        worker: This process's :class:`~tlstudio.training.cluster.Role` in a multi-worker run, else None.
    """
    lines = []
    best = result.best_metrics
    state = "cancelled" if result.cancelled else ("failed" if result.error else "finished")
    lines.append(f"Training {state} after {_n(result.epochs_completed, 'epoch')} in {_clock(result.seconds)}.")
    if best:
        parts = [f"{k} {best[k]:.4f}" for k in ("val_accuracy", "val_loss", "accuracy", "loss") if k in best]
        lines.append(f"Best epoch {int(best.get('epoch', 0)) + 1} (by {result.monitor}): " + ", ".join(parts))
    if result.feature_cache:
        lines.append("Phase 1 trained the head on cached backbone features.")
    if getattr(result, "auto_head", None):
        lines.append(str(result.auto_head.get("reason", "")))
    if result.run_dir:
        lines.append(f"Run folder: {result.run_dir}")
    elif worker is not None and not worker.chief:
        lines.append("Run folder: written by the chief worker; this worker's temporary folder was deleted.")
    if result.model_path:
        lines.append(f"Model:      {result.model_path}")
    return "\n".join(lines)
