"""The engine's jobs: every long or TensorFlow-bound piece of work, by name.

A job is a Qt-free function ``f(config, *, sink, cancel) -> result``:

* ``config`` is one frozen dataclass (or plain picklable value) that says
  everything the job needs;
* ``sink`` receives frozen event dataclasses from :mod:`tlstudio.events`;
* ``cancel`` is a :class:`~tlstudio.cancel.CancelToken` checked at safe points;
* the result is plain picklable data: dataclasses, numpy arrays, paths. A job
  never returns a Keras object.

The GUI runs jobs only in the engine process (:mod:`tlstudio.procrun`), by
the names below; the engine refuses any other name, so no caller can make it
import code outside this package's table. Tests and the CLI call the same
functions in-process with :func:`run_job`.

Every module here imports TensorFlow and Keras inside its functions only.
The configs, results and events of the jobs are defined in :mod:`tlstudio.api`,
which the GUI imports; this package holds only the job functions.
"""

from __future__ import annotations

from typing import Any, Callable

from tlstudio.cancel import CancelToken
from tlstudio.events import Sink, null_sink

JOBS: dict[str, str] = {
    # engine process
    "device": "tlstudio.jobs.device:device_info",
    # Data page
    "prepare_data": "tlstudio.jobs.data:prepare",
    "augment_preview": "tlstudio.jobs.data:augment_preview",
    # Model page
    "describe_backbone": "tlstudio.jobs.layers:describe_backbone",
    "default_weights": "tlstudio.jobs.weights:default_weights",
    "probe": "tlstudio.jobs.probe:probe",
    "sweep": "tlstudio.jobs.sweep:sweep",
    # Data page (Audit tab)
    "audit": "tlstudio.jobs.audit:audit",
    "embed": "tlstudio.jobs.embed:embed",
    # Train page
    "train": "tlstudio.jobs.train:train",
    # Evaluate page
    "evaluate": "tlstudio.jobs.evaluate:evaluate",
    "predict": "tlstudio.jobs.evaluate:predict",
    # Inspect page
    "inspect_table": "tlstudio.jobs.inspect:inspect_table",
    "filters": "tlstudio.jobs.inspect:filters",
    "activations": "tlstudio.jobs.inspect:activations",
    "gradcam": "tlstudio.jobs.inspect:gradcam",
    "cross_check": "tlstudio.jobs.inspect:cross_check",
    # Export page
    "export": "tlstudio.jobs.export:export",
    "export_formats": "tlstudio.jobs.export:export_formats",
    # File menu
    "report": "tlstudio.jobs.report:report",
    # Label page
    "label_suggest": "tlstudio.jobs.label:suggest",
    "label_retrain": "tlstudio.jobs.label:retrain",
}
"""Job name -> ``"tlstudio.module:function"``. The only work the engine process runs."""

LIGHT_JOBS: frozenset[str] = frozenset({"prepare_data", "default_weights"})
"""Jobs that never touch TensorFlow: they start at once, before the engine has set up its device."""

EXCLUSIVE_JOBS: frozenset[str] = frozenset({"train", "sweep"})
"""Jobs that change process-wide state (global random seeds, the Keras dtype policy):
the engine runs them one at a time, never two together. (``sweep`` clears the Keras session after every trial.)"""


def job_target(name: str) -> str:
    """The ``"module:function"`` of job ``name``.

    Raises:
        KeyError: when ``name`` is not a job, with the list of jobs.
    """
    try:
        return JOBS[name]
    except KeyError:
        raise KeyError(f"no engine job is called {name!r}; the jobs are {', '.join(sorted(JOBS))}. Received: {name!r}") from None


def resolve_job(name: str) -> Callable[..., Any]:
    """Import and return the function of job ``name``."""
    import importlib

    module_name, _, function = job_target(name).partition(":")
    return getattr(importlib.import_module(module_name), function)


def run_job(name: str, config: Any = None, sink: Sink | None = None, cancel: CancelToken | None = None) -> Any:
    """Run job ``name`` in this process (the CLI and tests): ``f(config, sink=, cancel=)``."""
    return resolve_job(name)(config, sink=sink or null_sink, cancel=cancel if cancel is not None else CancelToken())
