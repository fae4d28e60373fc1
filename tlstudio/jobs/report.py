"""The ``report`` job: one self-contained HTML report of a run folder (File ▸ Export report…, ``tlstudio-cli report``).

The config and result are in :mod:`tlstudio.api.report`; the work is in
:mod:`tlstudio.report`, which loads TensorFlow only inside its functions.
"""

from __future__ import annotations

from tlstudio.api.report import ReportConfig, ReportResult
from tlstudio.cancel import CancelToken
from tlstudio.events import Sink


def report(config: ReportConfig, *, sink: Sink, cancel: CancelToken) -> ReportResult:
    """Write the report of ``config.run_dir``; cancel is checked between its steps."""
    from tlstudio.report.write import write_report

    return write_report(config, sink, cancel)
