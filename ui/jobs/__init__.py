"""Per-page job helpers: build a typed config, submit it through the one engine client, and hand typed results back to the page."""
