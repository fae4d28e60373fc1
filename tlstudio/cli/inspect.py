"""``tlstudio-cli inspect MODEL_OR_BACKBONE``: the layer table with its formulas, and pictures.

MODEL_OR_BACKBONE is a ``.keras`` file or a backbone key (``vgg16``,
``resnet50``...), built without weights at its default size unless
``--image-size`` says otherwise. Prints (or writes into ``--out``) every
layer's shapes, F/S/P, parameters, activation memory and receptive field with
the formulas substituted, then the totals and a training-memory estimate.

``--layer L`` writes the filter grid of a convolution; with ``--image IMG``
it also writes L's activation maps and a Grad-CAM heatmap (at L, or at the
last convolution when no layer is given). ``--calc SPEC.json`` runs the layer
calculator on a hand-written network instead of a model: an output size that
is not a whole number is floored as Keras does and the row is flagged with
the exact value and a fix; ``--strict`` refuses it instead.

Exit 0 on success, 1 when the model or spec cannot be used (or the
cross-check differs), 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from tlstudio.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, error
from tlstudio.io.atomic import atomic_write_text


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="layer table with formulas, filter/activation grids and Grad-CAM for a model or backbone",
        description=__doc__.split("\n\n", 1)[1].replace("``", "") if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", nargs="?", metavar="MODEL_OR_BACKBONE", help=".keras file or backbone key (vgg16, resnet50, ...)")
    parser.add_argument("--layer", action="append", default=[], metavar="L", help="layer name or path (repeatable)")
    parser.add_argument("--image", metavar="IMG", help="image for activation maps and Grad-CAM")
    parser.add_argument("--class", dest="class_index", type=int, default=None, metavar="N", help="class index for Grad-CAM (default: predicted)")
    parser.add_argument("--calc", metavar="SPEC.json", help="run the layer calculator on this network spec")
    parser.add_argument("--cross-check", action="store_true", help="with --calc: build the spec in Keras and compare")
    parser.add_argument(
        "--strict", action="store_true",
        help="with --calc: refuse an output size that is not a whole number instead of flooring it as Keras does",
    )
    parser.add_argument("--out", metavar="DIR", help="write the table and PNGs here (default: table on stdout)")
    parser.add_argument("--format", choices=("md", "csv"), default="md", help="table format (default md)")
    parser.add_argument("--image-size", type=int, default=0, metavar="N", help="input side for a backbone key (default: its own)")
    parser.add_argument("--top", action="store_true", help="backbone key: include the ImageNet classifier top")
    parser.add_argument("--batch-size", type=int, default=32, metavar="N", help="batch size of the memory estimate (default 32)")
    parser.add_argument("--budget-gb", type=float, default=8.0, metavar="G", help="memory budget for the suggested batch size (default 8)")
    parser.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default="adam", help="optimizer of the memory estimate")
    parser.add_argument("--json", action="store_true", help="print everything as JSON on stdout")
    parser.set_defaults(func=run)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _emit_table(table, args, memory=None) -> tuple[str, Path | None]:
    from tlstudio.inspection.report import to_csv, to_markdown

    text = to_csv(table) if args.format == "csv" else to_markdown(table, memory)
    if not args.out:
        return text, None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{_safe(table.name)}_layers.{args.format}"
    atomic_write_text(path, text)
    return text, path


def _floor_lines(table) -> list[str]:
    """One line per floored row: the exact size, the floor and the fix."""
    return [f"note: {row.name}: {row.note}" for row in table.floored_rows]


def _run_calc(args) -> int:
    from tlstudio.shapes.calculator import CalcSpec, CalculatorError, calculate, cross_check

    spec = CalcSpec.from_file(args.calc)  # CalculatorError naming the file and field: one line, exit 1 via main
    try:
        table = calculate(spec, strict=args.strict)
    except CalculatorError as exc:  # a layer that cannot be computed (or, with --strict, floored): name the file too
        raise CalculatorError(f"{args.calc}: {exc}") from exc
    result: dict = {"table": table.to_dict()}
    if args.cross_check:
        check = cross_check(spec, strict=args.strict)
        result["cross_check"] = {"ok": check.ok, "mismatches": check.mismatches()}
    text, written = _emit_table(table, args)
    if args.json:
        result["files"] = [str(written)] if written else []
        print(json.dumps(result, indent=2, default=str))
    else:
        print(text if written is None else f"wrote {written}")
        for line in _floor_lines(table):
            print(line)
        if args.cross_check:
            print("Keras agrees with every row." if result["cross_check"]["ok"] else "\n".join(result["cross_check"]["mismatches"]))
    return EXIT_OK if not args.cross_check or result["cross_check"]["ok"] else EXIT_ERROR


def run(args: argparse.Namespace) -> int:
    if args.calc:
        return _run_calc(args)
    if not args.model:
        error("give a MODEL_OR_BACKBONE (a .keras file or a backbone key) or --calc SPEC.json. Received: neither")
        return EXIT_USAGE
    if args.strict or args.cross_check:
        error(f"{'--strict' if args.strict else '--cross-check'} goes with --calc SPEC.json. Received: a model ({args.model})")
        return EXIT_USAGE
    if args.batch_size < 1:
        error(f"--batch-size must be >= 1. Received: {args.batch_size}")
        return EXIT_USAGE
    if args.budget_gb <= 0:
        error(f"--budget-gb must be > 0. Received: {args.budget_gb:g}")
        return EXIT_USAGE
    image = None
    if args.image:
        from tlstudio.imaging import load_image

        try:
            image = load_image(args.image)
        except (OSError, ValueError) as exc:
            error(f"{args.image}: cannot be read as an image ({exc}).")
            return EXIT_ERROR

    from tlstudio.shapes.formulas import largest_batch, training_memory
    from tlstudio.backbone_build import resolve
    from tlstudio.inspection.report import save_png, totals_lines
    from tlstudio.inspection.table import layer_table

    model = resolve(args.model, args.image_size, args.top)
    table = layer_table(model)
    memory = training_memory(table.totals, args.batch_size, args.optimizer)
    budget = int(args.budget_gb * 1024**3)
    best = largest_batch(table.totals, budget, args.optimizer)
    text, written = _emit_table(table, args, memory)
    files = [str(written)] if written else []

    for name in args.layer:
        try:
            table.row(name)
        except KeyError:
            error(f"no layer {name!r} in {table.name}; see the table for names (e.g. {table.rows[1].path}).")
            return EXIT_ERROR
    out = Path(args.out or f"inspect-{_safe(table.name)}")
    if args.layer or image is not None:
        from tlstudio.inspection.filters import filter_grid

        for name in args.layer:
            if table.row(name).type in ("Conv2D", "DepthwiseConv2D"):
                files.append(str(save_png(filter_grid(model, name).image, out / f"filters_{_safe(name)}.png")))
        if image is not None:
            from tlstudio.inspection.activations import activation_maps
            from tlstudio.inspection.gradcam import grad_cam

            if args.layer:
                for name, maps in activation_maps(model, image, args.layer).items():
                    files.append(str(save_png(maps.image, out / f"activations_{_safe(name)}.png")))
            try:
                cam = grad_cam(model, image, args.class_index, args.layer[0] if args.layer else None)
            except ValueError as exc:
                print(f"tlstudio-cli: note: Grad-CAM skipped: {exc}", file=sys.stderr)
            else:
                files.append(str(save_png(cam.overlay, out / "gradcam.png")))
                files.append(str(save_png((cam.heatmap * 255).round().astype("uint8"), out / "gradcam_heatmap.png")))

    if args.json:
        data = table.to_dict()
        data["memory"] = {
            "batch_size": memory.batch_size, "optimizer": memory.optimizer, "total_bytes": memory.total_bytes,
            "fixed_bytes": memory.fixed_bytes, "per_batch_bytes": memory.per_batch_bytes,
            "budget_bytes": budget, "largest_batch": best,
        }
        data["files"] = files
        print(json.dumps(data, indent=2, default=str))
        return EXIT_OK
    if written is None:
        print(text)
    else:
        print("\n".join(totals_lines(table)))
    print(f"Training memory at batch {args.batch_size} ({args.optimizer}): " + ", ".join(memory.lines()))
    print(f"Largest batch within {args.budget_gb:g} GB: {best}")
    for f in files:
        print(f"wrote {f}", file=sys.stdout)
    return EXIT_OK
