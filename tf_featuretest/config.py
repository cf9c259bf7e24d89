"""Pipeline configuration: a TOML file -> typed, frozen dataclasses, checked when it is read.

The built-in digits pipeline (``pipelines/digits.toml``, shipped inside the package) is used when no
file is given. Every section and key is optional; unknown keys, wrong types and out-of-range values
are errors that name the key and the file, raised before any work starts. A key that may be left
unset is ``None`` (written by leaving it out of the file). ``docs/configuration.md`` lists every key;
it is generated from these classes (``python -m tf_featuretest.config``).

Example:
    >>> cfg = parse_config('[data]\\nsource = "digits"\\nbatch_size = 32\\n', "mine.toml")
    >>> cfg.data.batch_size, cfg.data.channels
    (32, None)
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from importlib import resources

import tomllib

from ._util import checks
from ._util.typed import coerce_type as _coerce_type
from ._util.typed import describe as _describe
from ._util.typed import hints as _hints
from .data.dataset import parse_source
from .errors import ConfigError, FeatureTestError
from .export.layout import NAME
from .models.advgan_families import FAMILIES as ADVGAN_FAMILIES
from .models.architectures import CLASSIFIERS
from .noise import parse_noises
from .testgen import check_members, check_methods, check_percentile, parse_radius


def key(default, doc: str, check=None):
    """A configuration key: its default, one line of documentation and an optional value check."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple for a sequence default")
    return field(default=default, metadata={"doc": doc, "check": check})


def _positive(v, k):
    return checks.positive_int(v, k)


def _non_negative(v, k):
    return checks.non_negative_int(v, k)


def _fraction(v, k):
    return checks.fraction(v, k)


def _fraction_open(v, k):
    return checks.number(v, k, low=0.0, low_open=True, high=1.0)


def _in(*options):
    return lambda v, k: checks.choice(v, k, options)


@dataclass(frozen=True)
class DataConfig:
    """``[data]``: where the images come from and how they are fed."""

    source: str = key("digits", "digits, folder:PATH, gtsrb:PATH, tiny_imagenet:PATH or tfds:NAME; relative paths "
                                "are resolved from the current directory")
    image_size: tuple[int, int] | None = key(None, "[height, width] every image is resized to; unset: a folder whose "
                                                   "images share one size of at most 128 px a side keeps it, else "
                                                   "32x32 (Tiny ImageNet 64x64, TFDS native)")
    channels: int | None = key(None, "1 (grayscale) or 3 (RGB); unset: inferred from the image files (folder, "
                                     "GTSRB, Tiny ImageNet), 1 for digits, the data set's own for TFDS", _in(1, 3))
    batch_size: int = key(128, "images per training batch", _positive)
    augment: bool = key(False, "random rotation, zoom, translation and contrast on training batches")
    crop: str = key("none", "none, box (crop to the bounding box) or both (crops plus originals, for training) "
                            "for sources with boxes", _in("none", "box", "both"))
    data_dir: str | None = key(None, "TFDS data directory (prepared data)")
    download: bool = key(False, "let TFDS download and prepare the data set (needs network)")


@dataclass(frozen=True)
class ClassifierConfig:
    """``[[classifiers]]``: one entry per classifier to test (the first one is used by single-model stages)."""

    name: str = key("small_cnn", "the label used in the report and for the saved model")
    model: str = key("small_cnn", "small_cnn, a backbone (inception_v3, densenet121, densenet169, mobilenet_v2, "
                                  "resnet50, vgg16) or the path of your own .keras file")
    weights: str | None = key(None, "backbones: imagenet or a local weights file; unset: random initialisation")
    trainable_layers: int | None = key(None, "backbones: how many of the backbone's last layers to fine-tune; "
                                             "unset: all without weights, none with", _non_negative)
    epochs: int = key(12, "maximum training epochs (early stopping on validation loss)", _positive)
    learning_rate: float = key(1e-3, "Adam learning rate",
                               lambda v, k: checks.number(v, k, low=0.0, low_open=True, high=1.0))
    patience: int = key(3, "early-stopping patience in epochs", _non_negative)
    adversarial: str = key("none", "none, fgsm or pgd: mix adversarial examples into every training batch",
                           _in("none", "fgsm", "pgd"))
    adv_eps: float = key(0.1, "L-inf budget of adversarial training", _fraction)
    adv_ratio: float = key(0.5, "share of each batch replaced by adversarial examples", _fraction)


@dataclass(frozen=True)
class AttackConfig:
    """``[attacks]``: the pixel-level attacks."""

    eps: tuple[float, ...] = key((0.0, 0.02, 0.05, 0.1, 0.2, 0.3), "L-inf budgets swept by FGSM and PGD, in [0, 1]",
                                 lambda v, k: tuple(checks.fraction(e, f"{k}[{i}]") for i, e in enumerate(v)) or
                                 _empty(k))
    pgd_steps: int = key(20, "PGD iterations", _positive)
    targeted_eps: float = key(0.3, "budget of the targeted PGD attack", _fraction)
    max_examples: int = key(256, "test images attacked", _positive)
    one_pixel_images: int = key(16, "test images given to the one-pixel attack", _positive)
    one_pixel_population: int = key(400, "differential-evolution population of the one-pixel attack", _positive)
    one_pixel_generations: int = key(100, "differential-evolution generations of the one-pixel attack", _positive)
    fooling_classes: int = key(10, "classes (from the first) that get a fooling image", _positive)


@dataclass(frozen=True)
class NoiseConfig:
    """``[noise]``: robustness to random and structured noise."""

    noises: tuple[str, ...] | None = key(None, "noise names to sweep; unset: every registered noise")
    severities: int = key(11, "severities swept from 0 to 1", lambda v, k: checks.integer(v, k, minimum=2))
    max_examples: int = key(256, "test images per sweep", _positive)
    baseline: str | None = key(None, "a classifier name: corruption errors are relative to it")
    preset: str = key("auto", "the ImageNet-C / CIFAR-10-C mean corruption error table at the reference's levels 1-5: "
                      "auto (CIFAR-10-C for a shorter image side up to 64 px, else ImageNet-C), imagenet-c, "
                      "cifar10-c or none", _in("auto", "imagenet-c", "cifar10-c", "none"))


@dataclass(frozen=True)
class FeatureConfig:
    """``[feature]``: feature-level tests with the VAE and the conditional DCGAN."""

    latent_dim: int = key(32, "size of the VAE's latent space", _positive)
    vae_beta: float = key(0.25, "weight of the VAE's KL term, in (0, 1] (a beta-VAE; lower keeps more detail)",
                          _fraction_open)
    vae_epochs: int = key(40, "VAE training epochs", _positive)
    dcgan_epochs: int = key(30, "DCGAN training epochs", _positive)
    radius: str = key("found", "latent sampling radius: found (searched per anchor up to its margin r_i), <f>found, "
                               "local, <f>local, global, <f>global or a number", lambda v, k: (parse_radius(v), v)[1])
    target_share: float = key(0.9, "found radius: the share of samples that must pass the checker", _fraction_open)
    anchors: int = key(100, "test images sampled around", _positive)
    per_anchor: int = key(10, "generated cases per anchor", _positive)
    gen_samples: int = key(500, "DCGAN test cases (and images for FID/KID/IS)", _positive)
    committee: tuple[str, ...] = key(("cnn", "wide_cnn", "knn"), "label committee: two or more of cnn, wide_cnn, mlp, "
                                                                  "knn", check_members)
    committee_epochs: int = key(30, "training epochs of each committee network", _positive)
    in_distribution_percentile: float = key(99.5, "held-out percentile of the density thresholds", check_percentile)
    search_budget: int = key(40, "model calls per anchor of each failure search and the random baseline", _positive)
    searches: tuple[str, ...] = key(("gradient", "evolution"), "directed failure searches: gradient, evolution",
                                    check_methods)


#: Targeted methods the look-alike stage can compare.
LOOKALIKE_METHODS = ("perceptual", "cw", "ddn", "pgd", "feature_space")


@dataclass(frozen=True)
class LookalikeConfig:
    """``[lookalike]``: targeted images the model puts in a wanted class."""

    images: int = key(20, "test images turned into look-alikes", _positive)
    methods: tuple[str, ...] = key(("perceptual", "cw", "pgd"), "targeted methods compared, the first shown and "
                                   "saved: perceptual, cw, ddn, pgd, feature_space",
                                   lambda v, k: checks.choices(v, k, LOOKALIKE_METHODS))
    eps: float = key(0.2, "L-inf budget of the fixed-budget methods (pgd, feature_space); perceptual, cw and ddn "
                          "search for the smallest change", lambda v, k: checks.number(v, k, low=0.0, low_open=True,
                                                                                        high=1.0))
    judge: bool = key(True, "ask the label committee whether each look-alike still shows its original label")


@dataclass(frozen=True)
class SaliencyConfig:
    """``[saliency]``: saliency maps of correct, misclassified and attacked images."""

    images: int = key(6, "images shown per classifier", _positive)
    max_examples: int = key(256, "test images the shown ones are picked from", _positive)
    smoothgrad_samples: int = key(25, "noisy copies averaged by SmoothGrad", _positive)
    attack_eps: float = key(0.1, "L-inf budget of the PGD attack whose effect on the maps is shown", _fraction)
    attack_steps: int = key(20, "iterations of that PGD attack", _positive)


@dataclass(frozen=True)
class AdvganConfig:
    """``[advgan]``: AdvGAN generators trained against the first classifier (Xiao et al., 2018)."""

    eps: float = key(0.3, "L-inf budget of the pixel generator (also scored at 1/6, 1/3 and 2/3 of it), in (0, 1]",
                     lambda v, k: checks.number(v, k, low=0.0, low_open=True, high=1.0))
    mode: str = key("both", "targets the pixel generator serves: untargeted, targeted or both",
                    _in("untargeted", "targeted", "both"))
    epochs: int = key(5, "training epochs of the pixel generator", _positive)
    families: tuple[str, ...] = key(("patch", "sticker", "black_rows", "brightness_contrast"), "structured noise "
                                    "families, each learned and compared with its noise's random draws: "
                                    + ", ".join(ADVGAN_FAMILIES[1:]),
                                    lambda v, k: tuple(checks.choice(f, k, ADVGAN_FAMILIES[1:]) for f in v))
    severity: float = key(0.3, "budget of the structured families, on the noise severity scale, in (0, 1]",
                          lambda v, k: checks.number(v, k, low=0.0, low_open=True, high=1.0))
    family_epochs: int = key(2, "training epochs of each family's generator", _positive)
    max_examples: int = key(256, "test images scored", _positive)


def _name(v, k):
    if not NAME.match(v):
        raise ConfigError(f"{k} must be a folder name of letters, digits, '_', '-' and '.' (starting with a letter "
                          f"or digit), got {v!r}")
    return v


def _empty(k):
    raise ConfigError(f"{k} needs at least one value")


@dataclass(frozen=True)
class PipelineConfig:
    """The top level of a pipeline file."""

    name: str = key("digits", "the pipeline's name: the folder of its report, models and exports", _name)
    seed: int = key(0, "the seed of every random choice; the same seed gives the same results.json", _non_negative)
    strategy: str = key("default", "tf.distribute strategy for training: default (Keras fit), mirrored (local GPUs), "
                                   "multiworker (TF_CONFIG; run on every worker) or tpu; all but default use the "
                                   "distributed training loop (docs/distributed.md)",
                        _in("default", "mirrored", "multiworker", "tpu"))
    ray: str | None = key(None, "run the attack and noise sweeps on Ray: auto, local or a cluster address; unset: "
                                "in this process (needs the [distributed] extra)")
    ray_actors: int = key(2, "Ray actors for the sweeps (each loads the model once)", _positive)
    stages: tuple[str, ...] | None = key(None, "stages to run (the ones they need run too); unset: all")
    data: DataConfig = field(default_factory=DataConfig)
    classifiers: tuple = (ClassifierConfig(),)
    attacks: AttackConfig = field(default_factory=AttackConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    feature: FeatureConfig = field(default_factory=FeatureConfig)
    lookalike: LookalikeConfig = field(default_factory=LookalikeConfig)
    saliency: SaliencyConfig = field(default_factory=SaliencyConfig)
    advgan: AdvganConfig = field(default_factory=AdvganConfig)
    source_file: str = "<built-in digits>"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


SECTIONS = {"data": DataConfig, "attacks": AttackConfig, "noise": NoiseConfig, "feature": FeatureConfig,
            "lookalike": LookalikeConfig, "saliency": SaliencyConfig, "advgan": AdvganConfig}
_INTERNAL = ("data", "classifiers", "attacks", "noise", "feature", "lookalike", "saliency", "advgan", "source_file")


# ----------------------------------------------------------------------------- typed parsing


def _coerce(cls, table, where, path):
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{where}] must be a table, got {type(table).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = _hints(cls)
    out = {}
    for k, value in table.items():
        if k not in fields or k in _INTERNAL and cls is PipelineConfig:
            raise ConfigError(f"{path}: unknown key {where}.{k} (known: {', '.join(sorted(fields))})")
        out[k] = _checked(fields[k], hints[k], value, f"{where}.{k}", path)
    return cls(**out)


def _checked(f, tp, value, where, path):
    try:
        value = _coerce_type(value, tp, where)
        check = f.metadata.get("check")
        return check(value, where) if check is not None and value is not None else value
    except FeatureTestError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def parse_config(text: str, path: str = "<string>") -> PipelineConfig:
    """Parse and check TOML text; every error names the key and ``path``."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    top = {f.name: f for f in dataclasses.fields(PipelineConfig) if f.name not in _INTERNAL}
    hints = _hints(PipelineConfig)
    kw = {}
    for k, value in raw.items():
        if k in SECTIONS:
            kw[k] = _coerce(SECTIONS[k], value, k, path)
        elif k == "classifiers":
            if not isinstance(value, list) or not value:
                raise ConfigError(f"{path}: classifiers must be a non-empty array of tables ([[classifiers]])")
            kw[k] = tuple(_coerce(ClassifierConfig, t, f"classifiers[{i}]", path) for i, t in enumerate(value))
        elif k in top:
            kw[k] = _checked(top[k], hints[k], value, k, path)
        else:
            raise ConfigError(f"{path}: unknown key {k!r}")
    cfg = PipelineConfig(source_file=path, **kw)
    _validate(cfg, path)
    return cfg


def _validate(cfg: PipelineConfig, path: str):
    """Checks across keys and against the registries (data sources, models, noises, attacks)."""
    try:
        kind, arg = parse_source(cfg.data.source)
    except FeatureTestError as exc:
        raise ConfigError(f"{path}: data.source: {exc}") from None
    if kind in ("folder", "gtsrb", "tiny_imagenet") and not os.path.isdir(arg):
        raise ConfigError(f"{path}: data.source path does not exist: {arg}")
    if cfg.data.image_size is not None and min(cfg.data.image_size) < 1:
        raise ConfigError(f"{path}: data.image_size must be [height, width], got {list(cfg.data.image_size)}")
    names = set()
    for i, c in enumerate(cfg.classifiers):
        if c.model not in CLASSIFIERS and not c.model.endswith((".keras", ".h5")):
            raise ConfigError(f"{path}: classifiers[{i}].model must be one of {', '.join(CLASSIFIERS)} "
                              f"or a .keras file, got {c.model!r}")
        if c.name in names:
            raise ConfigError(f"{path}: classifiers[{i}].name {c.name!r} is used twice")
        _name(c.name, f"{path}: classifiers[{i}].name")
        names.add(c.name)
    if cfg.noise.baseline is not None and cfg.noise.baseline not in names:
        raise ConfigError(f"{path}: noise.baseline {cfg.noise.baseline!r} is not a classifier name ({sorted(names)})")
    if cfg.noise.noises is not None:
        try:
            parse_noises(cfg.noise.noises)
        except FeatureTestError as exc:
            raise ConfigError(f"{path}: noise.noises: {exc}") from None


def builtin_pipeline_text(name: str = "digits") -> str:
    """The TOML text of a pipeline shipped inside the package."""
    try:
        return resources.files("tf_featuretest").joinpath("pipelines", f"{name}.toml").read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no built-in pipeline {name!r}") from None


def load_config(path: str | None = None) -> PipelineConfig:
    """Read a pipeline file; ``None`` gives the built-in digits pipeline."""
    if path is None:
        return parse_config(builtin_pipeline_text("digits"), "<built-in digits>")
    if not os.path.isfile(path):
        raise ConfigError(f"pipeline file not found: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read pipeline file {path}: {exc}") from None
    return parse_config(text, path)


# ----------------------------------------------------------------------------- documentation


def _default_text(f) -> str:
    if f.default is None:
        return "unset"
    if isinstance(f.default, bool):
        return "true" if f.default else "false"
    if isinstance(f.default, str):
        return f'"{f.default}"'
    if isinstance(f.default, tuple):
        return "[" + ", ".join(_default_text_value(v) for v in f.default) + "]"
    return _default_text_value(f.default)


def _default_text_value(v) -> str:
    return f'"{v}"' if isinstance(v, str) else f"{v:g}" if isinstance(v, float) else str(v)


def markdown() -> str:
    """``docs/configuration.md``: every TOML key with its type, default and meaning."""
    out = ["# Pipeline configuration", "",
           "A pipeline file is TOML. Every key is optional; leave a key out to get its default (\"unset\" means",
           "the key has no value unless you give one). `featuretest run PIPELINE.toml` reads the file and checks",
           "every key before any work starts; an unknown key, a wrong type or a value out of range stops with one",
           "line naming the key and the file. The built-in default is `pipelines/digits.toml`.", "",
           "This page is generated from `tf_featuretest/config.py` (`python -m tf_featuretest.config`); a test",
           "keeps it in sync.", ""]
    blocks = [("Top level", "", PipelineConfig), ("[data]", "data", DataConfig),
              ("[[classifiers]]", "classifiers", ClassifierConfig), ("[attacks]", "attacks", AttackConfig),
              ("[noise]", "noise", NoiseConfig), ("[feature]", "feature", FeatureConfig),
              ("[lookalike]", "lookalike", LookalikeConfig), ("[saliency]", "saliency", SaliencyConfig),
              ("[advgan]", "advgan", AdvganConfig)]
    for title, _, cls in blocks:
        hints = _hints(cls)
        doc = cls.__doc__.strip()
        doc = doc.split(": ", 1)[1] if doc.startswith("``[") else doc
        out += [f"## {title}", "", doc[:1].upper() + doc[1:], "", "| key | type | default | meaning |",
                "| --- | --- | --- | --- |"]
        for f in dataclasses.fields(cls):
            if "doc" not in f.metadata:
                continue
            out.append(f"| `{f.name}` | {_describe(hints[f.name])} | `{_default_text(f)}` | {f.metadata['doc']} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(), end="")
