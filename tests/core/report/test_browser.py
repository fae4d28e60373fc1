"""A run report in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

Playwright's own browser download needs the internet, so the test launches
the system Chromium that ``tools/bootstrap.sh`` installs, by its path
(``TLSTUDIO_CHROMIUM`` overrides it). It checks that every section renders,
every image loads, the console stays clean, no request leaves the file, and
the page prints to PDF.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tlstudio.api.report import ModelCard, ReportConfig
from tlstudio.config import DataConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
from tlstudio.data import generate_sample_dataset
from tlstudio.jobs import run_job
from tlstudio.training import run_training

from tests.support.audit_result import audit_result

SECTIONS = ("Summary", "Data", "Training", "Evaluation", "Exports", "Model card", "Reproduce")


def chromium_path() -> str:
    path = os.environ.get("TLSTUDIO_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("no Chromium: tools/bootstrap.sh installs the Debian package `chromium` (or set TLSTUDIO_CHROMIUM)")
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("browser")
    shapes = generate_sample_dataset(base / "shapes", per_class=10, size=32, seed=4)
    run = run_training(RunConfig(
        data=DataConfig(root=str(shapes), val_fraction=0.25, seed=5),
        model=ModelConfig(backbone="vgg16", weights="none", image_size=32, cut="block2_pool", head=HeadConfig(dropout=0.0)),
        train=TrainConfig(epochs=2, batch_size=8, learning_rate=0.01, seed=5, tensorboard=False),
        run_dir=str(base / "run"),
    ))
    assert run.error is None, run.error_details
    result = run_job("report", ReportConfig(run_dir=run.run_dir, model_card=ModelCard(intended_use="Teaching"), audit=audit_result(shapes)))
    return Path(result.path)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield browser
        browser.close()


def test_the_report_renders_whole_offline_and_prints(report, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: m.type in ("error", "warning") and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(report.as_uri(), wait_until="load")

    headings = page.locator("section > h2").all_inner_texts()
    assert tuple(h.strip() for h in headings) == SECTIONS
    for section_id in ("summary", "data", "training", "evaluation", "exports", "model-card", "reproduce"):
        box = page.locator(f"section#{section_id}").bounding_box()
        assert box is not None and box["height"] > 40, section_id

    images = page.eval_on_selector_all("img", "els => els.map(e => [e.alt, e.complete, e.naturalWidth])")
    assert len(images) >= 8  # counts, curves, confusion, ROC, PR, reliability, thumbnails, mistakes
    assert [alt for alt, complete, width in images if not complete or width <= 0] == []

    outside = [u for u in requests if not u.startswith(("file:", "data:"))]
    assert outside == [] and requests[0] == report.as_uri()
    assert errors == []

    page.screenshot(path=tmp_path / "report.png", full_page=True)
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf[:5] == b"%PDF-" and len(pdf) > 20_000
    page.close()
