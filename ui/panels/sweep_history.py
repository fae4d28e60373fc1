"""Which stored sweep is the project's last: the one it recorded, else the newest in its sweeps folder.

A sweep's folder is recorded in the project (``Project.sweep_folder``) and
re-linked from there wherever it is (an untitled project's sweeps are in the
cache). A saved project that recorded none shows the newest sweep in its own
sweeps folder; a new untitled project shows none (the cache's sweeps belong to
the projects that recorded them).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tlstudio.errors import TlStudioError
from tlstudio.project.sweeps import StoredSweep, last_sweep, read_sweep

logger = logging.getLogger(__name__)


def recorded_sweep(controller: Any) -> StoredSweep | None:
    """The sweep ``controller``'s project recorded (re-linked by its folder), or None."""
    folder = controller.project.sweep_folder if controller is not None else ""
    if not folder or not Path(folder).is_dir():
        return None
    try:
        return read_sweep(Path(folder))
    except TlStudioError as exc:
        logger.warning("the project's last sweep cannot be read: %s", exc)
        return None


def project_sweep(controller: Any, sweeps_folder: Path) -> StoredSweep | None:
    """The project's last sweep (``controller`` None: a panel not following a project, whose sweeps are in ``sweeps_folder``).

    Raises:
        OSError: ``sweeps_folder`` cannot be listed.
    """
    recorded = recorded_sweep(controller)
    if recorded is not None or (controller is not None and controller.path is None):
        return recorded
    return last_sweep(sweeps_folder)
