"""Run folders: the file names, the checked loaders and the resume plan.

Public API::

    from tlstudio.run_folders import RunFolder, load_run_config, resume_config

    folder = RunFolder(run_dir)
    config = folder.load_config()          # checked; ProjectError names the field
    again = resume_config(run_dir)         # train.epochs: planned; resume_plan: what is left

This package is light (no TensorFlow): the GUI may import it.
"""

from tlstudio.run_folders.resume_plan import epochs_done, plan_resume, resume_config
from tlstudio.run_folders.run_files import (
    AUTO_HEAD,
    BEST_WEIGHTS,
    CLASS_NAMES,
    DATASET_REPORT,
    HISTORY,
    LAST_WEIGHTS,
    LOGS,
    MARKER_FORMAT,
    MODEL,
    RESULT,
    RUN_CONFIG,
    RUN_ENTRIES,
    RUN_LOCK,
    RUN_MARKER,
    SPLIT_MANIFEST,
    WEIGHTS_EPOCHS_ATTR,
    RunFolder,
    check_run_folder,
    has_marker,
    load_class_names,
    load_history,
    load_result,
    load_run_config,
    marker_text,
    read_history,
)

__all__ = [
    "AUTO_HEAD", "BEST_WEIGHTS", "CLASS_NAMES", "DATASET_REPORT", "HISTORY", "LAST_WEIGHTS", "LOGS", "MARKER_FORMAT",
    "MODEL", "RESULT", "RUN_CONFIG", "RUN_ENTRIES", "RUN_LOCK", "RUN_MARKER", "SPLIT_MANIFEST", "WEIGHTS_EPOCHS_ATTR", "RunFolder",
    "check_run_folder", "epochs_done", "has_marker", "load_class_names", "load_history", "load_result", "load_run_config", "marker_text",
    "plan_resume",
    "read_history", "resume_config",
]
