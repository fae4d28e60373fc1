"""The export's certificate step: measure the written files, and what ``model.json`` keeps of it.

Called by :func:`tlstudio.export.exporter.export_model` after the files are
in place. A cancel or a failing measurement never undoes the export: the
files stay, and the result says why there is no certificate.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from tlstudio.api.certificate import CERTIFICATE_FILE, ExportCertificate
from tlstudio.cancel import CancelToken
from tlstudio.config import ExportConfig
from tlstudio.errors import ExportError
from tlstudio.events import LogMessage, Progress, Sink
from tlstudio.export.certify import CertifyCancelled, certify_export
from tlstudio.export.run_source import CertifySet


def certify_step(
    model: Any, files: Mapping[str, str], on: CertifySet, class_names: Sequence[str], export_cfg: ExportConfig,
    float_ops: Mapping[str, Sequence[str]], sink: Sink, cancel: CancelToken,
    graph_changes: Mapping[str, Sequence[str]] | None = None,
) -> tuple[ExportCertificate | None, str]:
    """``(certificate, "")``, or ``(None, why not)`` when cancelled or the measurement failed."""
    sink(Progress("certify", 0, 0, f"Certificate: the app's predictions on {len(on.images)} image(s) ({on.source})"))
    try:
        app_probs = np.asarray(model.predict(on.images, batch_size=16, verbose=0), dtype=np.float32)
        certificate = certify_export(
            app_probs, files, on.images, on.labels, on.paths, class_names, source=on.source, image_hash=on.image_hash,
            manifest_hash=on.manifest_hash, latency_runs=export_cfg.latency_runs, float_ops=float_ops, sink=sink, cancel=cancel,
            graph_changes=graph_changes,
        )
    except CertifyCancelled:
        note = "the certificate was cancelled; the files were written without one"
        sink(LogMessage(note.capitalize() + ".", "warning"))
        return None, note
    except ExportError as exc:
        sink(LogMessage(f"No certificate: {exc}", "warning"))
        return None, str(exc)
    for cert in certificate.formats:
        drops = cert.class_drops(export_cfg.drop_threshold)
        worst = f"; classes down more than {export_cfg.drop_threshold:g} points: {', '.join(c.name for c in drops)}" if drops else ""
        sink(LogMessage(f"certificate {cert.format}: agreement {cert.agreement:.1%}, accuracy change "
                        f"{cert.accuracy_change_points:+.1f} points{worst}", "warning" if drops else "info"))
    return certificate, ""


def certificate_summary(certificate: ExportCertificate, drop_threshold: float) -> dict[str, Any]:
    """The certificate's part of ``model.json``: per format its numbers (not the image list), the images and runtimes."""
    per_format = {}
    for cert, data in zip(certificate.formats, certificate.to_dict()["formats"]):
        data["disagreements"] = len(cert.disagreements)
        data["class_drops_over_threshold"] = [c.name for c in cert.class_drops(drop_threshold)]
        per_format[cert.format] = data
    return {
        "certificates": per_format,
        "certificate": {
            "file": CERTIFICATE_FILE,
            "source": certificate.source,
            "images": certificate.images,
            "image_set_hash": certificate.image_set_hash,
            "split_manifest_hash": certificate.split_manifest_hash,
            "runtime_versions": dict(certificate.runtime_versions),
            "drop_threshold_points": drop_threshold,
            "failed": dict(certificate.failed),
            "created": certificate.created,
        },
    }
