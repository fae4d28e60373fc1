"""``tlstudio-cli``: the command-line front end of the engine.

Each sub-command lives in its own module ``tlstudio.cli.<name>`` that defines
``register(subparsers)`` and ``run(args) -> int``. Modules must be cheap to
import (no TensorFlow at module level).

Conventions shared by every command:

* a user-fixable error is one line on stderr, ``tlstudio-cli: error: ...``;
* exit code 0 on success, 1 on an error, 2 when the input is unusable
  (for example a dataset with fewer than two valid classes);
* ``--json`` prints machine-readable output on stdout instead of text.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from tlstudio import __version__
from tlstudio.errors import DataError, TlStudioError

COMMANDS = ("scan", "sample", "train", "predict", "export", "inspect", "evaluate")
"""Sub-command module names, in the order ``--help`` lists them."""

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_UNUSABLE = 2


def error(message: str) -> None:
    """Print a one-line error on stderr."""
    print(f"tlstudio-cli: error: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tlstudio-cli",
        description="Transfer Learning Studio: scan data, fine-tune VGG/ResNet, export and inspect models.",
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_ERROR
    try:
        return int(args.func(args) or 0)
    except DataError as exc:
        error(str(exc))
        return EXIT_UNUSABLE
    except TlStudioError as exc:
        error(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        error("interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
