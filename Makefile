# Two entry points: `make run` (install everything, start the app on the
# bundled sample dataset) and `make test` (install everything, run all tests).
VENV := .venv
PY := $(VENV)/bin/python
# pytest-xdist workers for `make test` (CI has 2 cores; each worker may hold a TensorFlow engine).
TEST_WORKERS ?= 2

.PHONY: run test test-fast lint-imports bootstrap screenshots bench

bootstrap:
	@bash tools/bootstrap.sh

run: bootstrap
	$(PY) main.py --sample

test: bootstrap
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=25

test-fast: bootstrap
	QT_QPA_PLATFORM=offscreen TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow"

screenshots: bootstrap
	QT_QPA_PLATFORM=offscreen $(PY) tools/screenshots.py

bench: bootstrap
	$(PY) benchmarks/bench_scan.py
