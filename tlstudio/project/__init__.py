"""The project: its file, its run records, its schema migrations, its autosaves, its audit record and its sweeps.

One module per job:

* :mod:`~tlstudio.project.project`: :class:`Project`, the ``.tlsproj`` file.
* :mod:`~tlstudio.project.runs`: :class:`RunRecord` and runs compared side by side.
* :mod:`~tlstudio.project.migrations`: the schema version and the migrations of older files.
* :mod:`~tlstudio.project.autosave`: autosave side files, one per session, and recovery.
* :mod:`~tlstudio.project.audit_record`: the record of the last dataset audit.
* :mod:`~tlstudio.project.sweeps`: where a project keeps its sweeps (imports
  :mod:`tlstudio.jobs.sweep`, so it is imported from its module only).

The package presents the names of the first four. It is light: it never
imports TensorFlow.
"""

from tlstudio.project.autosave import (
    AUTOSAVE_SUFFIX,
    PROJECT_SUFFIX,
    SESSION_ID,
    UNTITLED_AUTOSAVE,
    autosave_path,
    discard_autosave,
    glob_escape,
    new_session_id,
    pending_autosaves,
    recover,
)
from tlstudio.project.migrations import MIGRATIONS, SCHEMA_VERSION, migrate
from tlstudio.project.project import Project
from tlstudio.project.runs import (
    CURVE_KEYS,
    DIFF_IGNORED,
    RunComparison,
    RunRecord,
    config_diff,
    flatten,
    history_curves,
)

__all__ = [
    "AUTOSAVE_SUFFIX",
    "CURVE_KEYS",
    "DIFF_IGNORED",
    "MIGRATIONS",
    "PROJECT_SUFFIX",
    "SCHEMA_VERSION",
    "SESSION_ID",
    "UNTITLED_AUTOSAVE",
    "Project",
    "RunComparison",
    "RunRecord",
    "autosave_path",
    "config_diff",
    "discard_autosave",
    "flatten",
    "glob_escape",
    "history_curves",
    "migrate",
    "new_session_id",
    "pending_autosaves",
    "recover",
]
