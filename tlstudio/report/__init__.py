"""The run report: one self-contained HTML file about one run folder.

:func:`tlstudio.report.write.write_report` reads the run folder
(:mod:`~tlstudio.report.facts`, Keras-free), evaluates its model and explains
its most confident mistakes with Grad-CAM (:mod:`~tlstudio.report.evaluated`),
draws the figures with Matplotlib (:mod:`~tlstudio.report.figures`) and fills
the Jinja2 template ``templates/report.html.j2`` (:mod:`~tlstudio.report.render`).
The job is :func:`tlstudio.jobs.report.report`; its contract is in
:mod:`tlstudio.api.report`.
"""
