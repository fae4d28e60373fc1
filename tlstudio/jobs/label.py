"""The active-labelling jobs: ``label_suggest`` (what to label next) and ``label_retrain`` (the head again).

Both take their features from the pooled feature cache through the run's own
model (:mod:`tlstudio.analysis.active_loop`), so after the first round they
compute none; the ranking is :mod:`tlstudio.analysis.active`. Filing the
labelled images is not a job: it is plain file work
(:mod:`tlstudio.data.labelling`). Contracts: :mod:`tlstudio.api.label`.
"""

from __future__ import annotations

from tlstudio.api.label import RetrainConfig, RetrainResult, Skipped, SuggestConfig, SuggestResult, Suggestion
from tlstudio.cancel import CancelToken
from tlstudio.events import LogMessage, Progress, Sink


def suggest(config: SuggestConfig, *, sink: Sink, cancel: CancelToken) -> SuggestResult:
    """Rank the unsorted folder's images for labelling (the job ``"label_suggest"``); nothing on disk changes.

    Embeds the labelled dataset (without the loop's own images, whose rows are
    in the pool) and the pool, scores the pool with the run's head (or the
    refitted ``config.head_file``), flags copies of labelled images with the
    audit's rule, and ranks the rest by ``config.strategy``.

    Raises:
        DataError: the pool or the dataset cannot be used (named).
        ProjectError, ModelFileError: the run cannot be used (named).
    """
    import time

    import numpy as np

    from tlstudio.analysis import active, active_loop
    from tlstudio.analysis.dataset import analysis_data
    from tlstudio.data.labelling import pool_images

    start = time.perf_counter()
    run = active_loop.load_run(config.run_dir)
    class_names = config.head_classes or run.class_names

    def stopped() -> SuggestResult:
        return SuggestResult((), (), class_names, config.strategy, seconds=time.perf_counter() - start, cancelled=True)

    everything = pool_images(config.pool)
    sink(Progress("label", 0, 4, f"Checking {len(everything)} images of {config.pool}"))
    pool, unreadable = active_loop.readable(everything, max_megapixels=run.config.data.max_megapixels, sink=sink, cancel=cancel)
    if cancel.cancelled:
        return stopped()
    skipped = [Skipped(p, reason) for p, reason in unreadable.items()]
    if not pool:
        sink(LogMessage(f"{config.pool} holds no readable images to suggest", "warning"))
        return SuggestResult((), tuple(skipped), class_names, config.strategy, 0, time.perf_counter() - start)
    base = analysis_data(active_loop.base_config(config.data, run), sink=sink, cancel=cancel)
    if base.cancelled:
        return stopped()
    common = dict(batch_size=config.batch_size, cache_dir=config.cache_dir, sink=sink, cancel=cancel)
    pool_x = active_loop.features(run, pool, label="unsorted", **common)
    base_x = None if pool_x is None else active_loop.features(run, base.paths, label="dataset", **common)
    if base_x is None:
        return stopped()
    sink(Progress("label", 2, 4, "Looking for copies of labelled images"))
    labelled = {path for path, _ in config.labelled}
    decided = labelled | set(config.exclude)
    in_pool = [i for i, p in enumerate(pool) if p in labelled]
    pool_unit, base_unit = active.standardised_together(active_loop.embedding(pool_x), active_loop.embedding(base_x))
    anchors = np.concatenate([base_unit, pool_unit[in_pool]])
    pool_hashes = active_loop.perceptual_hashes(pool, cancel)
    base_hashes = active_loop.perceptual_hashes(base.paths, cancel)
    if cancel.cancelled:
        return stopped()
    anchor_paths = list(base.paths) + [pool[i] for i in in_pool]
    copies = active.copies_of_labelled(
        pool, anchor_paths, pool_unit, anchors, pool_hashes, np.concatenate([base_hashes, pool_hashes[in_pool]]),
        phash_distance=config.phash_distance, similarity=config.near_similarity,
    )
    candidates = []
    for i, path in enumerate(pool):
        if path in decided:
            continue
        if i in copies:
            skipped.append(Skipped(path, copies[i]))
            continue
        candidates.append(i)
    sink(Progress("label", 3, 4, f"Scoring {len(candidates)} images"))
    proba = active_loop.predict_head(run, pool_x[candidates], config.head_file)
    if proba.shape[1] != len(class_names):
        from tlstudio.errors import ConfigError

        raise ConfigError(f"head_classes: the head gives {proba.shape[1]} classes. Expected {len(class_names)} "
                          f"names. Received: {list(class_names)}")
    paths = [pool[i] for i in candidates]
    order = active.rank(config.strategy, proba, paths, config.n, unit=pool_unit[candidates], anchors=anchors,
                        seed=config.seed)
    margins = active.margins(proba)
    suggestions = tuple(
        Suggestion(paths[i], class_names[int(np.argmax(proba[i]))], float(proba[i].max()), float(margins[i]), rank,
                   tuple(float(v) for v in proba[i]))
        for rank, i in enumerate(order, start=1)
    )
    if copies:
        sink(LogMessage(f"{sum(1 for s in skipped if 'copy of' in s.reason)} image(s) are copies of labelled images "
                        "and are not suggested"))
    sink(Progress("label", 4, 4, f"{len(suggestions)} images to label"))
    return SuggestResult(suggestions, tuple(skipped), class_names, config.strategy, len(candidates),
                         time.perf_counter() - start)


def retrain(config: RetrainConfig, *, sink: Sink, cancel: CancelToken) -> RetrainResult:
    """Refit the run's head on the dataset plus the loop's images, score it on validation (the job ``"label_retrain"``).

    The run folder is not changed. With ``config.head_file`` the refitted head
    is saved there (atomically) for the next ``label_suggest``.

    Raises:
        DataError: the dataset cannot be used, or the images name no class (named).
    """
    import time

    import numpy as np

    from tlstudio.analysis import active_loop
    from tlstudio.analysis.dataset import analysis_data
    from tlstudio.data.labelling import pool_images
    from tlstudio.errors import DataError

    start = time.perf_counter()
    run = active_loop.load_run(config.run_dir)

    def stopped() -> RetrainResult:
        return RetrainResult(0.0, 0, run.class_names, config.strategy, seconds=time.perf_counter() - start, cancelled=True)

    base = analysis_data(active_loop.base_config(config.data, run), sink=sink, cancel=cancel)
    if base.cancelled:
        return stopped()
    names = list(base.class_names)
    for _, label in config.labelled:
        if label not in names:
            names.append(label)  # a class made from the grid
    common = dict(batch_size=config.batch_size, cache_dir=config.cache_dir, sink=sink, cancel=cancel)
    base_x = active_loop.features(run, base.paths, label="dataset", **common)
    if base_x is None:
        return stopped()
    pool = pool_images(config.pool) if config.pool else []
    row = {p: i for i, p in enumerate(pool)}
    from_pool = [p for p, _ in config.labelled if p in row]
    others = [p for p, _ in config.labelled if p not in row]
    pool_x = active_loop.features(run, pool, label="unsorted", **common) if from_pool else np.zeros((0,) + base_x.shape[1:], np.float32)
    other_x = active_loop.features(run, others, label="labelled", **common) if others else np.zeros((0,) + base_x.shape[1:], np.float32)
    if pool_x is None or other_x is None:
        return stopped()
    lookup = {p: pool_x[row[p]] for p in from_pool} | {p: other_x[i] for i, p in enumerate(others)}
    train_rows = base.rows("train")
    x_parts = [base_x[train_rows]] + ([np.stack([lookup[p] for p, _ in config.labelled])] if config.labelled else [])
    y = np.concatenate([base.labels[train_rows], np.array([names.index(lab) for _, lab in config.labelled], np.int64)])
    x = np.concatenate(x_parts)
    val_rows = base.rows("val")
    if not len(val_rows):
        raise DataError(f"{config.data.root or run.config.data.root}: the learning curve needs a validation split to "
                        "score each round on. Received: 0 validation images")
    sink(Progress("label", 0, 1, f"Refitting the head on {len(y)} images"))
    head, epochs = active_loop.fit_head(run, x, y, len(names), seed=config.seed, max_epochs=config.max_epochs, cancel=cancel)
    if cancel.cancelled:
        return stopped()
    proba = active_loop.predict(head, active_loop.as_maps(base_x[val_rows]))
    accuracy = float(np.mean(np.argmax(proba, axis=1) == base.labels[val_rows]))
    if config.head_file:
        from tlstudio.io.atomic import atomic_path

        with atomic_path(config.head_file, ".keras") as temp:
            head.save(temp)
    sink(Progress("label", 1, 1, f"Validation accuracy {accuracy:.3f} with {len(y)} training images"))
    return RetrainResult(accuracy, int(len(y)), tuple(names), config.strategy, epochs, time.perf_counter() - start)
