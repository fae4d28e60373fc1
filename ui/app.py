"""Application entry point: parse arguments, create the QApplication, show the window."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tlstudio", description="Transfer Learning Studio")
    parser.add_argument("folder", nargs="?", help="dataset folder to open")
    parser.add_argument("--sample", action="store_true", help="open the bundled sample dataset")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])

    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication.instance() or QApplication(sys.argv[:1])
    label = QLabel("tlstudio")
    label.show()
    return app.exec()
