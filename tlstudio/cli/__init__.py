"""``tlstudio-cli``: the command-line front end of the engine.

Each sub-command lives in its own module ``tlstudio.cli.<name>`` that defines
``register(subparsers)`` and ``run(args) -> int``. Modules must be cheap to
import (no TensorFlow at module level).

Conventions shared by every command:

* a user-fixable error is one line on stderr, ``tlstudio-cli: error: ...``,
  never a traceback (``TLSTUDIO_DEBUG=1`` shows the traceback of an
  unexpected error);
* the exit codes are those of :mod:`tlstudio.cli.exit_codes`: 0 success,
  1 failure, 2 bad command line, 3 unusable data, 130 cancelled;
* ``--json`` prints machine-readable output on stdout instead of text;
* file names that are not valid UTF-8 are printed and written back as their
  original bytes (``surrogateescape``), never a crash.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import importlib
import os
import sys
from typing import Iterator, Sequence

from tlstudio import __version__
from tlstudio.cli.exit_codes import (
    EXIT_CANCELLED,
    EXIT_DATA,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_UNUSABLE,
    EXIT_USAGE,
    describe as describe_exit_codes,
)
from tlstudio.errors import DataError, TlStudioError

__all__ = [
    "COMMANDS", "EXIT_CANCELLED", "EXIT_DATA", "EXIT_ERROR", "EXIT_OK", "EXIT_UNUSABLE", "EXIT_USAGE",
    "FS_ERRORS", "UsageError", "build_parser", "error", "main", "one_line",
]

COMMANDS = ("scan", "sample", "train", "predict", "export", "inspect", "evaluate", "report", "cache", "probe", "sweep", "audit", "label")
"""Sub-command module names, in the order ``--help`` lists them."""

FS_ERRORS = "tlstudio-surrogateescape"
"""Codec error handler of the CLI's stdout and stderr.

``surrogateescape`` for the lone surrogates that stand for the undecodable
bytes of a file name (so the original bytes are printed, as ``ls`` does), and
``backslashreplace`` for any other character the stream's encoding lacks.
"""


def _fs_errors(exc: UnicodeError):
    try:
        return codecs.lookup_error("surrogateescape")(exc)
    except UnicodeError:
        return codecs.lookup_error("backslashreplace")(exc)


codecs.register_error(FS_ERRORS, _fs_errors)


class UsageError(TlStudioError):
    """The command line is wrong: an option value out of range, a missing argument (exit 2)."""


def one_line(message: str) -> str:
    """``message`` with its lines joined, so an error stays on one line."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def error(message: str) -> None:
    """Print a one-line error on stderr."""
    print(f"tlstudio-cli: error: {one_line(message)}", file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    """The ``tlstudio-cli`` parser with every sub-command that is built."""
    parser = argparse.ArgumentParser(
        prog="tlstudio-cli",
        description="Transfer Learning Studio: scan data, fine-tune VGG/ResNet, export and inspect models.",
        epilog="exit codes:\n" + describe_exit_codes(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tlstudio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"tlstudio.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"tlstudio.cli.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


@contextlib.contextmanager
def _file_name_safe_streams() -> Iterator[None]:
    """Let stdout and stderr print any file name while the command runs, then restore them."""
    saved = []
    for stream in (sys.stdout, sys.stderr):
        errors = getattr(stream, "errors", None)
        if errors is not None and errors != FS_ERRORS and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors=FS_ERRORS)
            except (ValueError, OSError, AttributeError):  # a closed or exotic stream: leave it
                continue
            saved.append((stream, errors))
    try:
        yield
    finally:
        for stream, errors in saved:
            with contextlib.suppress(ValueError, OSError, AttributeError):
                stream.reconfigure(errors=errors)


def _unexpected(exc: BaseException) -> int:
    if os.environ.get("TLSTUDIO_DEBUG"):
        raise exc
    if isinstance(exc, OSError) and exc.filename is not None:
        name = os.fsdecode(exc.filename) if isinstance(exc.filename, bytes) else str(exc.filename)
        error(f"{name}: {exc.strerror or exc}. Received: {type(exc).__name__} (errno {exc.errno})")
    else:
        error(
            f"unexpected {type(exc).__name__}: {exc or 'no message'}. Received: this is a bug in tlstudio; "
            "run again with TLSTUDIO_DEBUG=1 to see the traceback and report it"
        )
    return EXIT_ERROR


TENSORFLOW_COMMANDS = frozenset({"train", "predict", "export", "inspect", "evaluate", "probe", "audit", "sweep"})
"""Sub-commands that load TensorFlow: it is imported first, its start-up lines going to the log file."""


def _run(args: argparse.Namespace) -> int:
    try:
        if getattr(args, "command", None) in TENSORFLOW_COMMANDS:
            from tlstudio.tf_startup import import_tensorflow_quietly

            check = getattr(args, "before_tensorflow", None)
            if check is not None:
                check(args)  # input refused here is refused in a moment, without TensorFlow's start-up

            import_tensorflow_quietly()
        return int(args.func(args) or 0)
    except UsageError as exc:
        error(str(exc))
        return EXIT_USAGE
    except DataError as exc:
        error(str(exc))
        return EXIT_DATA
    except TlStudioError as exc:
        error(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        error("interrupted")
        return EXIT_CANCELLED
    except BrokenPipeError:  # e.g. `tlstudio-cli scan DATA | head`: the reader left, nothing to say
        with contextlib.suppress(OSError, ValueError, AttributeError):  # keep the interpreter's final flush quiet
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, no traceback
        return _unexpected(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (see :mod:`tlstudio.cli.exit_codes`).

    Args:
        argv: The arguments after the program name; ``None`` reads ``sys.argv``.

    Returns:
        The exit code: 0 success, 1 failure, 2 bad command line, 3 unusable
        data, 130 cancelled. ``--help`` and ``--version`` return 0 instead of
        exiting, and so does nothing else: ``main`` never raises ``SystemExit``.

    With ``argv`` None (the process's own command line: ``tlstudio-cli``,
    ``python -m tlstudio``) the process ends when this returns, so the objects
    left are kept out of its exit's collections
    (:func:`~tlstudio.tf_startup.exit_without_a_full_collection`).
    """
    if argv is None:
        try:
            return _main(argv)
        finally:
            from tlstudio.tf_startup import exit_without_a_full_collection

            exit_without_a_full_collection()
    return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tlstudio.tf_startup import passive_openmp

    passive_openmp()
    with _file_name_safe_streams():
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse: 2 after its usage message, 0 after --help/--version
            return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_USAGE)
        if not getattr(args, "command", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return _run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
