"""The certificate's measuring process: predict and time every exported file in its own runtime.

Run as ``python -I certify_worker.py spec.json``, never imported: like the
export verification (:mod:`tlstudio.export.verify`) it imports only NumPy and
the formats' runtimes, and loads the files with the app's one loader
(:mod:`tlstudio.io.runners`, executed from its file). The spec names the
images, the files, the thread count and the number of timed calls.

A fresh process per thread setting is what makes "1 thread" true for
TensorFlow (SavedModel, .keras), whose thread pools are fixed at its first op;
the TFLite interpreter and ONNX Runtime get the count when a file is opened.

It prints ``progress <done> <total> <message>`` lines on stdout and writes a
JSON report: per format the probabilities (``.npy``) when asked, the
single-call times in seconds, the runtime's name and version, or an error.
"""

import json
import os
import runpy
import sys
import time

RUNTIME_OF = {"keras": "keras", "savedmodel": "tensorflow", "tflite": "tflite", "onnx": "onnxruntime"}


def _kind(fmt):
    return "tflite" if fmt.startswith("tflite") else fmt


def _runtime_version(kind):
    try:
        if kind == "onnx":
            import onnxruntime

            return "onnxruntime " + onnxruntime.__version__
        if kind == "keras":
            import keras

            return "keras " + keras.__version__
        if kind == "tflite":
            try:
                import ai_edge_litert

                return "LiteRT interpreter " + getattr(ai_edge_litert, "__version__", "?")
            except ImportError:
                import tensorflow as tf

                return "TFLite interpreter (tensorflow " + tf.__version__ + ")"
        import tensorflow as tf

        return "tensorflow " + tf.__version__
    except Exception as exc:  # a version is a nicety, never a failure
        return kind + " (version unknown: " + type(exc).__name__ + ")"


def main(spec_path):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    runners = runpy.run_path(spec["runners"], run_name="tlstudio_runners")
    threads = int(spec["threads"])
    if any(_kind(f) in ("keras", "savedmodel") for f in spec["files"]):
        runners["set_tensorflow_threads"](threads)
    images = np.load(spec["images"]).astype("float32")
    runs, warmup, batch = int(spec["runs"]), int(spec.get("warmup", 2)), int(spec.get("batch", 16))
    total = len(spec["files"])
    report = {}
    for done, (fmt, path) in enumerate(spec["files"].items()):
        print(f"progress {done} {total} {fmt} with {threads} thread(s)", flush=True)
        try:
            kind = _kind(fmt)
            run = runners["open_runner"](kind, path, threads)
            entry = {"runtime": _runtime_version(kind)}
            if spec["predict"]:
                probs = np.concatenate([np.asarray(run(images[i:i + batch])) for i in range(0, len(images), batch)])
                out = os.path.join(spec["out_dir"], fmt + ".npy")
                np.save(out, probs.astype("float32"))
                entry["probs"] = out
            one = [images[i % len(images)][None] for i in range(max(runs, 1) + warmup)]
            times = []
            for i, image in enumerate(one):
                start = time.perf_counter()
                run(image)
                if i >= warmup:
                    times.append(time.perf_counter() - start)
            entry["seconds"] = times[:runs]
            report[fmt] = entry
        except Exception as exc:
            report[fmt] = {"error": f"{type(exc).__name__}: {exc}"}
    print(f"progress {total} {total} done", flush=True)
    report["_tlstudio_loaded"] = "tlstudio" in sys.modules
    with open(spec["report"], "w", encoding="utf-8") as fh:
        json.dump(report, fh)


if __name__ == "__main__":
    main(sys.argv[1])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # the report is written and closed; skip TensorFlow's interpreter teardown (1.2-1.8 s)
