"""tlstudio-cli cache info|clear: see how much disk the caches use, and delete them.

The caches hold backbone features (``features/``), pooled features for the
probe and audit (``pooled/``), decoded images at the training size
(``pixels/``) and image check results (``validation/``) under
``TLSTUDIO_CACHE_DIR`` (default ``~/.cache/tlstudio``).
They are rebuilt when needed, so clearing them is always safe; autosaves,
logs and sample datasets in the same folder are never touched. The feature
cache is kept under ``TLSTUDIO_FEATURE_CACHE_MB`` megabytes (default 4096),
evicting the least recently used entries; the decoded-image cache under
``TLSTUDIO_PIXEL_CACHE_MB`` (default 16384, 0 turns it off).

Exit 0 on success, 1 when a file could not be deleted, 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import json

from tlstudio.cli import EXIT_OK, UsageError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "cache",
        help="show or clear the disk caches (features, pooled features, decoded images, image checks)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="cache_action", metavar="ACTION")
    info = actions.add_parser("info", help="print each cache's folder, file count and size")
    info.add_argument("--json", action="store_true", help="print the caches as JSON")
    clear = actions.add_parser("clear", help="delete the cache files (they are rebuilt when needed)")
    clear.add_argument("--only", choices=("features", "pooled", "pixels", "validation"), action="append", metavar="NAME",
                       help="clear only this cache (features, pooled, pixels or validation); may be repeated")
    clear.add_argument("--json", action="store_true", help="print what was deleted as JSON")
    parser.set_defaults(func=run, cache_action=None)


def _rows(usages) -> list[dict]:
    return [{"name": u.name, "description": u.description, "folder": str(u.folder), "files": u.files, "bytes": u.bytes}
            for u in usages]


def run(args: argparse.Namespace) -> int:
    from tlstudio.caches import cache_info, clear_caches, feature_limit_bytes, human_size

    if args.cache_action is None:
        raise UsageError("cache needs an action: info or clear. Received: no action")
    if args.cache_action == "info":
        usages = cache_info()
        from tlstudio.data.pixel_cache import limit_bytes as pixel_limit_bytes

        try:
            limit = feature_limit_bytes()
            pixel_limit = pixel_limit_bytes()
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        if args.json:
            print(json.dumps({"caches": _rows(usages), "feature_limit_bytes": limit, "pixel_limit_bytes": pixel_limit},
                             indent=2))
            return EXIT_OK
        for u in usages:
            print(f"{u.name:<11} {human_size(u.bytes):>10} in {u.files} files  {u.folder}  ({u.description})")
        print(f"total       {human_size(sum(u.bytes for u in usages)):>10}; feature cache limit {human_size(limit)}, "
              f"decoded-image cache limit {human_size(pixel_limit)}")
        return EXIT_OK
    freed = clear_caches(args.only)
    if args.json:
        print(json.dumps({"cleared": _rows(freed)}, indent=2))
        return EXIT_OK
    for u in freed:
        print(f"cleared {u.name}: {u.files} files, {human_size(u.bytes)} from {u.folder}")
    return EXIT_OK
