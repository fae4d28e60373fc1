"""A hand-made audit result over the generated sample dataset (the Audit tab's tests)."""

from __future__ import annotations

from pathlib import Path

from tlstudio.api.audit import AuditResult, DuplicateGroup, Imbalance, LabelIssue, Outlier


def audit_result(root: Path) -> AuditResult:
    """Findings of every kind naming images of the generated three-class dataset at ``root``."""
    p = lambda c, i: str(root / c / f"{c}_{i:03d}.png")  # noqa: E731
    return AuditResult(
        duplicates=(
            DuplicateGroup("exact", (p("circle", 1), p("circle", 2)), ("train", "val"), True, 1.0),
            DuplicateGroup("near", (p("square", 3), p("square", 4), p("square", 5)), ("train", "train", "train"), False, 0.981),
        ),
        label_issues=(
            LabelIssue(p("circle", 0), "circle", "square", 0.93),
            LabelIssue(p("triangle", 6), "triangle", "circle", 0.71),
        ),
        outliers=(Outlier(p("square", 7), 0.62),),
        imbalance=Imbalance({"circle": 8, "square": 8, "triangle": 8}, 1.0, "The classes are balanced."),
        class_names=("circle", "square", "triangle"),
        num_images=24,
        cut="block5_pool",
        seconds=2.5,
    )
