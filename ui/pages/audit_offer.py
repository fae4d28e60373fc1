"""Moved to :mod:`ui.panels.audit_offer`; kept only so the Train page imports it until its own split lands."""

from ui.panels.audit_offer import AuditOffer  # noqa: F401
