"""File ▸ Export report…'s engine work: the ``"report"`` job, and what the dialog fills it with.

:func:`default_run` picks the run a report is about (the model on the
Evaluate page when it is a run, else the project's last run);
:func:`project_audit` finds the dataset audit the Data section shows;
:class:`ReportJobs` builds the typed :class:`~tlstudio.api.report.ReportConfig`
and starts it on the engine.
"""

from __future__ import annotations

from typing import Any, Sequence

from PySide6.QtCore import QObject

from tlstudio.api.audit import AuditResult
from tlstudio.api.report import ModelCard, ReportConfig
from tlstudio.project import Project
from ui.engine import engine
from ui.jobs.evaluate_jobs import is_run, model_source
from ui.project_controller import last_run


def default_run(state: Any, project: Project) -> str:
    """The run folder the report is about by default, or "" when there is none."""
    if state.model_path:
        source = model_source(state.model_path)
        if is_run(source):
            return source
    run = last_run(project)
    return run.run_dir if run is not None else ""


def project_audit(state: Any, project: Project) -> AuditResult | None:
    """The last audit of the project's dataset: this session's, else the one the project recorded."""
    root = state.dataset_root
    session = state.audit_of(root) if root else None
    if isinstance(session, AuditResult):
        return session
    if project.audit is not None:
        result = project.audit.result()
        return result if isinstance(result, AuditResult) else None
    return None


class ReportJobs(QObject):
    """One engine task for the report.

    Attributes:
        runner: The engine task (progress, result, error, running and finished signals).
    """

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self.runner = engine().task(parent)

    def start(self, run_dir: str, out: str, card: ModelCard, audit: AuditResult | None, export_dirs: Sequence[str]) -> ReportConfig:
        """Write the report of ``run_dir`` to ``out`` (the save dialog has confirmed replacing it)."""
        config = ReportConfig(run_dir=run_dir, out=out, overwrite=True, model_card=card, audit=audit, export_dirs=tuple(export_dirs))
        self.runner.start("report", config)
        return config
