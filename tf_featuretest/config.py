"""Pipeline configuration: a TOML file -> frozen dataclasses, validated with messages naming key and file.

The built-in digits pipeline (``pipelines/digits.toml``, shipped inside the package) is used when no
file is given. Every section and key is optional; unknown keys and wrong types are errors.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources

from .errors import ConfigError


@dataclass(frozen=True)
class DataConfig:
    source: str = "digits"
    image_size: tuple = ()  # () = the source's default
    channels: int = 0  # 0 = the source's default
    batch_size: int = 128
    augment: bool = False
    crop: str = "none"
    data_dir: str = ""
    download: bool = False


@dataclass(frozen=True)
class ClassifierConfig:
    name: str = "small_cnn"  # the label used in the report
    model: str = "small_cnn"  # small_cnn or a backbone name, or a path to a user's .keras file
    weights: str = ""  # "", "imagenet" or a weights file
    trainable_layers: int = -1  # -1 = default
    epochs: int = 12
    learning_rate: float = 1e-3
    patience: int = 3
    adversarial: str = "none"  # none | fgsm | pgd
    adv_eps: float = 0.1
    adv_ratio: float = 0.5


@dataclass(frozen=True)
class AttackConfig:
    eps: tuple = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3)
    pgd_steps: int = 20
    targeted_eps: float = 0.3
    max_examples: int = 256
    one_pixel_images: int = 16
    one_pixel_population: int = 400
    one_pixel_generations: int = 100
    fooling_classes: int = 10


@dataclass(frozen=True)
class NoiseConfig:
    noises: tuple = ()  # () = every registered noise
    severities: int = 11
    max_examples: int = 256
    baseline: str = ""  # classifier name (from [[classifiers]]) to normalise corruption errors by


@dataclass(frozen=True)
class FeatureConfig:
    latent_dim: int = 16
    vae_epochs: int = 30
    dcgan_epochs: int = 30
    radius: str = "0.5local"  # global | local | <fraction>local
    anchors: int = 100
    per_anchor: int = 10
    gen_samples: int = 500


@dataclass(frozen=True)
class LookalikeConfig:
    images: int = 20
    eps: float = 0.1


@dataclass(frozen=True)
class SaliencyConfig:
    images: int = 6
    smoothgrad_samples: int = 25


@dataclass(frozen=True)
class PipelineConfig:
    name: str = "digits"
    seed: int = 0
    strategy: str = "default"  # default | mirrored
    stages: tuple = ()  # () = all
    data: DataConfig = field(default_factory=DataConfig)
    classifiers: tuple = (ClassifierConfig(),)
    attacks: AttackConfig = field(default_factory=AttackConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    feature: FeatureConfig = field(default_factory=FeatureConfig)
    lookalike: LookalikeConfig = field(default_factory=LookalikeConfig)
    saliency: SaliencyConfig = field(default_factory=SaliencyConfig)
    source_file: str = "<built-in digits>"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


SECTIONS = {"data": DataConfig, "attacks": AttackConfig, "noise": NoiseConfig, "feature": FeatureConfig,
            "lookalike": LookalikeConfig, "saliency": SaliencyConfig}


def _coerce(cls, table, where, path):
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{where}] must be a table, got {type(table).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = {}
    for key, value in table.items():
        if key not in fields:
            raise ConfigError(f"{path}: unknown key {where}.{key} (known: {', '.join(sorted(fields))})")
        default = fields[key].default
        out[key] = _check_type(value, default, f"{where}.{key}", path)
    return cls(**out)


def _check_type(value, default, key, path):
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, tuple):
        ok = isinstance(value, list)
        value = tuple(value) if ok else value
    else:
        ok = True
    if not ok:
        raise ConfigError(f"{path}: {key} must be {type(default).__name__}, got {value!r}")
    return value


def parse_config(text: str, path: str = "<string>") -> PipelineConfig:
    """Parse and validate TOML text."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    top = {f.name: f.default for f in dataclasses.fields(PipelineConfig) if f.name not in SECTIONS}
    kw = {}
    for key, value in raw.items():
        if key in SECTIONS:
            kw[key] = _coerce(SECTIONS[key], value, key, path)
        elif key == "classifiers":
            if not isinstance(value, list) or not value:
                raise ConfigError(f"{path}: classifiers must be a non-empty array of tables ([[classifiers]])")
            kw[key] = tuple(_coerce(ClassifierConfig, t, f"classifiers[{i}]", path) for i, t in enumerate(value))
        elif key in top and key not in ("classifiers", "source_file"):
            kw[key] = _check_type(value, top[key], key, path)
        else:
            raise ConfigError(f"{path}: unknown key {key!r}")
    cfg = PipelineConfig(source_file=path, **kw)
    _validate(cfg, path)
    return cfg


def _validate(cfg: PipelineConfig, path: str):
    from .data.pipeline import parse_source
    from .models.classifiers import CLASSIFIERS

    try:
        kind, arg = parse_source(cfg.data.source)
    except Exception as exc:
        raise ConfigError(f"{path}: data.source: {exc}") from None
    if kind in ("folder", "gtsrb", "tiny_imagenet"):
        full = arg if os.path.isabs(arg) else os.path.join(os.path.dirname(os.path.abspath(path)), arg)
        if not os.path.isdir(arg) and not os.path.isdir(full):
            raise ConfigError(f"{path}: data.source path does not exist: {arg}")
    if cfg.data.image_size and (len(cfg.data.image_size) != 2 or min(cfg.data.image_size) < 1):
        raise ConfigError(f"{path}: data.image_size must be [height, width], got {list(cfg.data.image_size)}")
    if cfg.data.channels not in (0, 1, 3):
        raise ConfigError(f"{path}: data.channels must be 1 or 3 (0 = default), got {cfg.data.channels}")
    if cfg.data.crop not in ("none", "box", "both"):
        raise ConfigError(f"{path}: data.crop must be none, box or both, got {cfg.data.crop!r}")
    if cfg.data.batch_size < 1:
        raise ConfigError(f"{path}: data.batch_size must be positive, got {cfg.data.batch_size}")
    if cfg.strategy not in ("default", "mirrored"):
        raise ConfigError(f"{path}: strategy must be 'default' or 'mirrored', got {cfg.strategy!r}")
    names = set()
    for i, c in enumerate(cfg.classifiers):
        if c.model not in CLASSIFIERS and not c.model.endswith((".keras", ".h5")):
            raise ConfigError(f"{path}: classifiers[{i}].model must be one of {', '.join(CLASSIFIERS)} "
                              f"or a .keras file, got {c.model!r}")
        if c.name in names:
            raise ConfigError(f"{path}: classifiers[{i}].name {c.name!r} is used twice")
        names.add(c.name)
        if c.adversarial not in ("none", "fgsm", "pgd"):
            raise ConfigError(f"{path}: classifiers[{i}].adversarial must be none, fgsm or pgd, got {c.adversarial!r}")
        if c.epochs < 1:
            raise ConfigError(f"{path}: classifiers[{i}].epochs must be >= 1, got {c.epochs}")
    if cfg.noise.baseline and cfg.noise.baseline not in names:
        raise ConfigError(f"{path}: noise.baseline {cfg.noise.baseline!r} is not a classifier name ({sorted(names)})")
    if any(not 0 <= e <= 1 for e in cfg.attacks.eps):
        raise ConfigError(f"{path}: attacks.eps values must lie in [0, 1], got {list(cfg.attacks.eps)}")


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
    with open(path, encoding="utf-8") as fh:
        return parse_config(fh.read(), path)
