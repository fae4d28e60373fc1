"""What the certificate in an export's ``model.json`` says about one served file: the warnings ``predict`` prints.

Light (JSON only): ``tlstudio-cli predict`` calls it before loading the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tlstudio.io.model_files import read_json

DEFAULT_DROP_THRESHOLD = 1.0
"""Percentage points of per-class accuracy drop that make ``predict`` warn."""


def _format_of(model_json: dict[str, Any], name: str) -> str | None:
    files = model_json.get("files")
    if not isinstance(files, dict):
        return None
    return next((fmt for fmt, file in files.items() if str(file).rstrip("/") == name), None)


def certificate_warnings(model_path: str | Path, threshold_points: float = DEFAULT_DROP_THRESHOLD) -> list[str]:
    """One line per class whose accuracy the served file's certificate shows dropping by more than ``threshold_points``.

    Empty when the file has no export ``model.json`` next to it, or its
    format has no certificate, or no class dropped that much.
    """
    path = Path(model_path)
    model_json = read_json(path.parent / "model.json")
    if not isinstance(model_json, dict):
        return []
    fmt = _format_of(model_json, path.name)
    certificates = model_json.get("certificates")
    cert = certificates.get(fmt) if isinstance(certificates, dict) and fmt else None
    if not isinstance(cert, dict):
        return []
    lines = []
    for c in cert.get("classes") or []:
        try:
            change = 100.0 * (float(c["accuracy"]) - float(c["app_accuracy"]))
        except (KeyError, TypeError, ValueError):
            continue
        if -change > threshold_points:
            lines.append(
                f"{path.name} ({fmt}): its certificate shows class '{c.get('name')}' at {100 * float(c['accuracy']):.1f}% "
                f"accuracy against the app's {100 * float(c['app_accuracy']):.1f}% ({change:+.1f} points, "
                f"threshold {threshold_points:g}); see {path.parent / 'certificate.json'}"
            )
    return lines
