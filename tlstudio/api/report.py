"""The run report's contract: the model card a user writes, the ``report`` job's config and result. Keras-free.

A report is one self-contained HTML file about one run folder (see
:mod:`tlstudio.report`). The model card's fields are written by the user in
the app and kept in the project; the CLI reads them from ``--project``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from tlstudio.api.audit import AuditResult
from tlstudio.errors import ConfigError
from tlstudio.options import check_options, option
from tlstudio.run_file_names import EXPORT_DIR, REPORT

REPORT_SPLITS = ("auto", "val", "test", "all")
"""Which split the report evaluates: ``auto`` takes the test split when the run has one, else validation."""


@dataclass(frozen=True)
class ModelCard:
    """What the user says about the model: the parts of a model card no run file knows.

    Empty fields are shown in the report as "not filled in".
    """

    intended_use: str = option(
        "", label="Intended use", help="what the model is for, and for whom",
        tooltip="What the model is for and who should use it, e.g. 'sort bench photos of ants and bees for the field survey'",
    )
    limitations: str = option(
        "", label="Limitations", help="where the model should not be trusted",
        tooltip="Where the model should not be trusted: kinds of images, conditions or classes it has not seen",
    )
    data_provenance: str = option(
        "", label="Data provenance", help="where the images come from, their licence and who labelled them",
        tooltip="Where the images come from, under which licence, who labelled them and when",
    )
    authors: str = option("", label="Authors", help="who trained and approved the model")

    def __post_init__(self) -> None:
        check_options(self)

    @property
    def empty(self) -> bool:
        """True when no field is filled in."""
        return not any(getattr(self, f.name).strip() for f in dataclasses.fields(self))

    def to_dict(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "model_card") -> "ModelCard":
        """A card from :meth:`to_dict` output; unknown keys are ignored.

        Raises:
            ConfigError: a field is not text, naming it and ``Received: ...``.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where} must be an object of text fields. Received: {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        for key, value in values.items():
            if not isinstance(value, str):
                raise ConfigError(f"{where}.{key} must be text. Received: {value!r}")
        return cls(**values)


@dataclass(frozen=True)
class ReportConfig:
    """What the ``report`` job writes.

    Attributes:
        run_dir: The run folder the report is about.
        out: The HTML file to write; empty writes ``report.html`` in the run folder.
        overwrite: Replace ``out`` when it exists (the CLI's ``--force``; the
            GUI's save dialog asks first). Otherwise an existing file is refused.
        split: The split to evaluate (:data:`REPORT_SPLITS`).
        model_card: The user's model card (from the project).
        audit: The project's last dataset audit, shown in the Data section; None when no audit ran.
        export_dirs: Export folders of this run's model; their files are listed
            with size and SHA-256, and a :data:`CERTIFICATE_FILE` in one is shown.
            Empty: the run's default export folder ``<run>/export`` when it exists.
        mistakes: How many of the most confident mistakes get a Grad-CAM.
        thumbnails: How many audit findings of each kind get a thumbnail.
    """

    run_dir: str
    out: str = ""
    overwrite: bool = False
    split: str = option("auto", label="Split", choices=REPORT_SPLITS, help="split to evaluate: auto = test when the run has one, else val")
    model_card: ModelCard = field(default_factory=ModelCard)
    audit: AuditResult | None = None
    export_dirs: tuple[str, ...] = ()
    mistakes: int = option(8, label="Mistakes", min=0, max=64, help="most confident mistakes shown with Grad-CAM")
    thumbnails: int = option(6, label="Thumbnails", min=0, max=64, help="audit findings of each kind shown with a thumbnail")

    def __post_init__(self) -> None:
        run_dir = os.fspath(self.run_dir) if isinstance(self.run_dir, (str, os.PathLike)) else ""
        if not run_dir:
            raise ConfigError(f"a report needs a run folder. Received: run_dir={self.run_dir!r}")
        object.__setattr__(self, "run_dir", run_dir)
        if isinstance(self.out, os.PathLike):
            object.__setattr__(self, "out", os.fspath(self.out))
        dirs = (self.export_dirs,) if isinstance(self.export_dirs, (str, os.PathLike)) else tuple(self.export_dirs)
        object.__setattr__(self, "export_dirs", tuple(os.fspath(d) for d in dirs))
        if not isinstance(self.model_card, ModelCard):
            raise ConfigError(f"model_card must be a ModelCard. Received: {type(self.model_card).__name__}")
        if self.audit is not None and not isinstance(self.audit, AuditResult):
            raise ConfigError(f"audit must be an AuditResult or None. Received: {type(self.audit).__name__}")
        check_options(self)

    @property
    def out_path(self) -> str:
        """The file the report goes to."""
        return self.out or os.path.join(self.run_dir, REPORT)

    @property
    def exports(self) -> tuple[str, ...]:
        """The export folders the report lists: :attr:`export_dirs`, else ``<run>/export`` when it exists."""
        default = os.path.join(self.run_dir, EXPORT_DIR)
        return self.export_dirs or ((default,) if os.path.isdir(default) else ())


@dataclass(frozen=True)
class ReportResult:
    """What the ``report`` job wrote.

    Attributes:
        path: The HTML file.
        size: Its size in bytes.
        seconds: Wall time of the job.
        sections: The sections the report holds, in order.
        missing: What the run folder lacked, one sentence each (a damaged or
            unfinished run gets a shorter report that says so).
        split: The split evaluated, or "" when nothing could be evaluated.
        cancelled: True when cancelled; nothing was written.
    """

    path: str
    size: int = 0
    seconds: float = 0.0
    sections: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    split: str = ""
    cancelled: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["sections"], data["missing"] = list(self.sections), list(self.missing)
        return data
