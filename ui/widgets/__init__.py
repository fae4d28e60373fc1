"""Reusable widgets of the tlstudio GUI."""
