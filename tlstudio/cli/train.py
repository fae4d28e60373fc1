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
import signal
import sys
from typing import Any

from tlstudio.cli import EXIT_CANCELLED, EXIT_DATA, EXIT_ERROR, EXIT_OK, EXIT_USAGE, UsageError, error
from tlstudio.cli.train_options import build_config
from tlstudio.cli.train_progress import ProgressPrinter, summary
from tlstudio.errors import ConfigError, ProjectError, TlStudioError


def check_run_folder(run_dir: str) -> None:
    """Check a run folder's files before ``--resume`` loads anything (see :func:`tlstudio.run_folders.check_run_folder`).

    Raises:
        ProjectError: naming the damaged file and field, what was expected and ``Received: ...``.
    """
    from tlstudio.run_folders import check_run_folder as check

    check(run_dir)


def register(subparsers) -> None:
    from tlstudio.cli.train_options import EPILOG, add_arguments

    parser = subparsers.add_parser(
        "train",
        help="fine-tune a pretrained VGG/ResNet on a folder of images",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(func=run, before_tensorflow=check_before_tensorflow)


def check_out(args: argparse.Namespace) -> None:
    """Refuse ``--out`` when it names a file or a non-empty folder that ``--resume`` does not name.

    Raises:
        UsageError: naming the folder, what it holds, and what to do instead.
    """
    if not args.run_dir:
        return
    from tlstudio.training.run_folder import check_new_run_dir, same_folder

    if args.resume_from and not same_folder(args.run_dir, args.resume_from):
        raise UsageError(
            f"--out and --resume name different folders; a resume continues its run in its own folder. "
            f"Leave out --out. Received: --out {args.run_dir} --resume {args.resume_from}",
            path=args.run_dir,
        )
    try:
        check_new_run_dir(args.run_dir, args.resume_from)
    except ConfigError as exc:
        raise UsageError(str(exc), path=exc.path) from exc


def _config(args: argparse.Namespace, *, chief: bool = True):
    """``build_config`` with its errors sorted: a bad option is a usage error, a damaged run names its file.

    A non-chief worker of a multi-worker run does not check ``--out``: it never
    writes there (the chief does, and may have created it already).
    """
    if chief:
        check_out(args)
    if not args.resume_from:
        try:
            return build_config(args)
        except ConfigError as exc:
            raise UsageError(str(exc), path=exc.path) from exc
    check_run_folder(args.resume_from)
    try:
        return build_config(args)
    except TlStudioError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeError, OSError) as exc:
        raise ProjectError(
            f"{args.resume_from}: the run folder cannot be resumed: its files are damaged ({type(exc).__name__}: {exc}). "
            f"Received: --resume {args.resume_from}",
            path=args.resume_from,
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
    if not args.root and not args.resume_from:
        error("DATA is required (or --resume RUN_DIR). Received: no dataset folder")
        return EXIT_USAGE
    from tlstudio.cancel import CancelToken
    from tlstudio.training.cluster import role, wait_seconds

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
