"""Panels: the parts a page is built from. A panel may start engine jobs through ui/jobs helpers; it never imports keras."""
