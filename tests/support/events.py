"""An event sink that records what a job sends, for tests of jobs and runs."""

from __future__ import annotations


class Recorder:
    """A sink (``sink(event)``) that keeps every event, in order."""

    def __init__(self):
        self.events = []

    def __call__(self, event):
        self.events.append(event)

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]

    def names(self):
        return [type(e).__name__ for e in self.events]
