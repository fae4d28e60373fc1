"""The exit codes of ``tlstudio-cli``, defined once for every sub-command.

Scripts can tell a wrong command line (fix the call) from data that cannot be
used (fix the folder) from a failure (read the message):

====  ================  ======================================================
code  name              meaning
====  ================  ======================================================
0     ``EXIT_OK``       success
1     ``EXIT_ERROR``    the command failed: a model, weights, run folder,
                        project or spec file that cannot be used, an export or
                        check that did not pass, some images could not be
                        read, or an unexpected error
2     ``EXIT_USAGE``    bad command line: an unknown option, a missing
                        argument or an option value out of range (the code
                        ``argparse`` uses)
3     ``EXIT_DATA``     the dataset cannot be used: no such folder, fewer than
                        two classes with valid images, no image files found
130   ``EXIT_CANCELLED``  cancelled with Ctrl-C (a training still saves a
                        usable model)
====  ================  ======================================================

``EXIT_UNUSABLE`` is the older name of :data:`EXIT_DATA`.
"""

from __future__ import annotations

import textwrap

EXIT_OK = 0
"""Success."""

EXIT_ERROR = 1
"""The command failed (a user-fixable error other than usage or data, or an unexpected one)."""

EXIT_USAGE = 2
"""Bad command line: what ``argparse`` returns, and option values out of range."""

EXIT_DATA = 3
"""The dataset cannot be used as it is."""

EXIT_UNUSABLE = EXIT_DATA
"""Older name of :data:`EXIT_DATA`."""

EXIT_CANCELLED = 130
"""Cancelled by Ctrl-C (128 + SIGINT, as shells report it)."""

EXIT_CODES: tuple[tuple[int, str, str], ...] = (
    (EXIT_OK, "EXIT_OK", "success"),
    (
        EXIT_ERROR,
        "EXIT_ERROR",
        "the command failed: a model, run folder, project or spec file that cannot be used, an export or "
        "check that did not pass, images that could not be read, or an unexpected error",
    ),
    (EXIT_USAGE, "EXIT_USAGE", "bad command line: unknown option, missing argument or option value out of range"),
    (EXIT_DATA, "EXIT_DATA", "the dataset cannot be used (no such folder, fewer than two usable classes, no images)"),
    (EXIT_CANCELLED, "EXIT_CANCELLED", "cancelled with Ctrl-C"),
)
"""``(code, name, meaning)`` for every code, in order: the source of ``--help`` and the README table."""


def describe() -> str:
    """The exit codes as the lines ``tlstudio-cli --help`` prints under "exit codes:".

    Returns:
        The codes and their meanings, wrapped to 78 columns, e.g. ``"  0    success"``.
    """
    lines = []
    for code, _, meaning in EXIT_CODES:
        lines += textwrap.wrap(meaning, width=78, initial_indent=f"  {code:<5}", subsequent_indent=" " * 7)
    return "\n".join(lines)
