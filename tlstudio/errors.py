"""Errors the engine raises for conditions a user can fix.

Every error carries a one-line message meant for people (shown in the GUI and
printed by the CLI) and, where it helps, the offending path.
"""

from __future__ import annotations


class TlStudioError(Exception):
    """Base class for user-facing engine errors.

    Args:
        message: One or two plain sentences saying what is wrong and how to fix it.
        path: The file or folder the error is about, if any.
    """

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class DataError(TlStudioError):
    """The dataset cannot be used as it is (empty root, one class, too few images...)."""


class ConfigError(TlStudioError):
    """A configuration value is out of range or inconsistent."""


class WeightsUnavailableError(TlStudioError):
    """Pretrained weights cannot be found or loaded (offline, missing file, mismatch)."""


class ModelFileError(TlStudioError):
    """A model file cannot be read, or is not a tlstudio/Keras model."""


class ExportError(TlStudioError):
    """An export failed or its verification did not pass."""


class ProjectError(TlStudioError):
    """A project file cannot be read or written."""
