"""YAML -> validated, resolved Config. Every problem is reported with its YAML path."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic.json_schema import DEFAULT_REF_TEMPLATE, GenerateJsonSchema, JsonSchemaMode

from augcli.errors import ConfigError, Problem, errors_in, suggest, yaml_path

DEFAULT_TEXT_INCLUDE = ["**/*.txt", "**/*.csv", "**/*.tsv", "**/*.jsonl"]
DEFAULT_IMAGE_INCLUDE = ["**/*.jpg", "**/*.jpeg", "**/*.png", "**/*.bmp", "**/*.tif", "**/*.tiff", "**/*.webp"]
MODALITIES = ("image", "audio", "text", "video")  # discovery order: the first whose include matches takes a file


class _SchemaWithFactoryDefaults(GenerateJsonSchema):
    """Defaults made by a factory (lists, sections) are in the schema too: editors and the docs show them."""

    def get_default_value(self, schema: Any) -> Any:
        if "default_factory" in schema and not schema.get("default_factory_takes_data"):
            return schema["default_factory"]()
        return super().get_default_value(schema)


class _Section(BaseModel):
    # A field's docstring is its description in `augcli schema` and in the docs' config reference.
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    @classmethod
    def model_json_schema(cls, by_alias: bool = True, ref_template: str = DEFAULT_REF_TEMPLATE,
                          schema_generator: type[GenerateJsonSchema] = _SchemaWithFactoryDefaults,
                          mode: JsonSchemaMode = "validation", **kwargs: Any) -> dict[str, Any]:
        return super().model_json_schema(by_alias, ref_template, schema_generator, mode, **kwargs)


class Splits(_Section):
    """Which top-level split folders are augmented and which are copied unchanged."""

    augment: list[str] = Field(default_factory=lambda: ["train"])
    """Split folders that are augmented."""
    copy_: list[str] = Field(default_factory=lambda: ["val", "valid", "validation", "test"], alias="copy")
    """Split folders copied unchanged. A split in neither list is left out."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_attribute_docstrings=True)


#: Size limits: a source over one is an error naming the file, its size and the key (docs/reference/config.md,
#: "Size limits").
#: The image default is PIL's decompression-bomb limit; the others are far above any real sample.
DEFAULT_MAX_PIXELS = 89_478_485  # about 89.5 megapixels: 1 GB of decoded RGB, 9459 x 9459
DEFAULT_MAX_SECONDS = 10_800  # 3 hours of audio: 4 GB of float32 samples at 48 kHz stereo
DEFAULT_MAX_CHARS = 10_000_000  # characters of one text sample: a file, a line or a table field

#: More copies of one source than this is refused (exit 2): a mistyped number far more often than a wish.
MAX_COPIES = 100_000


class Mix(_Section):
    """Mixup / CutMix outputs: each source mixed with partners drawn from its augmented split."""

    method: Literal["mixup", "cutmix"]
    """mixup: a weighted blend of the source and a partner; cutmix: a box of the partner pasted into the source."""
    alpha: float | None = Field(default=None, gt=0)
    """Beta(alpha, alpha) for the mixing weight; null: 0.4 for mixup, 1.0 for cutmix."""
    copies: int = Field(default=1, ge=1, le=MAX_COPIES)
    """Mixed outputs per source."""
    same_label: bool = False
    """true: partners only from the source's own label ("intra-class mixup")."""


class AnnotationsSection(_Section):
    """Detection, segmentation and pose labels that move with the pixels (COCO, YOLO, VOC, mask folders)."""

    format: Literal["coco", "yolo", "voc", "masks", "none"] | None = None
    """The dataset's layout; null: detected from the layout; none: plain images (labels ignored)."""
    file: str | None = None
    """coco: the JSON, relative to input; null: every COCO JSON found."""
    images: str | None = None
    """coco: the folder its file_names are relative to, relative to input; null: found."""
    min_visibility: float = Field(default=0.0, ge=0.0, le=1.0)
    """albumentations' BboxParams: an object less visible than this share of its area is dropped."""
    min_area: float = Field(default=0.0, ge=0.0)
    """albumentations' BboxParams: an object smaller than this many pixels is dropped."""
    keep_empty: bool = True
    """Keep copies that lost every object (as background images); false leaves them out."""


class ImageSection(_Section):
    """Images, augmented with albumentations."""

    include: list[str] = Field(default_factory=lambda: list(DEFAULT_IMAGE_INCLUDE))
    """Globs of the files this modality takes (relative to input, case-insensitive)."""
    exclude: list[str] = Field(default_factory=list)
    """Globs left out of include."""
    pipeline: list[Any] = Field(default_factory=list)
    """albumentations classes with their own parameters, applied in order."""
    format: Literal["jpg", "png", "webp", "bmp", "tiff"] | None = None
    """The format outputs are written in; null: each source's own."""
    quality: int | None = Field(default=None, ge=1, le=100)
    """JPEG/WebP quality 1-100; null: 95."""
    mix: Mix | None = None
    """Mixup / CutMix outputs, made from pairs of training images."""
    annotations: AnnotationsSection | None = None
    """Detection, segmentation and pose labels; null: the layout is detected."""
    max_pixels: int = Field(default=DEFAULT_MAX_PIXELS, ge=1, strict=True)
    """Width x height above which an image is refused, read from its header before decoding (masks too)."""


DEFAULT_AUDIO_INCLUDE = ["**/*.wav", "**/*.flac", "**/*.ogg", "**/*.mp3"]


class AudioSection(_Section):
    """Audio clips, augmented with audiomentations."""

    include: list[str] = Field(default_factory=lambda: list(DEFAULT_AUDIO_INCLUDE))
    """Globs of the files this modality takes (relative to input, case-insensitive)."""
    exclude: list[str] = Field(default_factory=list)
    """Globs left out of include."""
    pipeline: list[Any] = Field(default_factory=list)
    """audiomentations classes with their own parameters, applied in order."""
    sample_rate: int | None = Field(default=None, ge=1000)
    """Resample (librosa) to this rate before augmenting; null keeps each file's."""
    mono: bool = False
    """true: down-mix to one channel before augmenting."""
    sidecars: list[str] = Field(default_factory=lambda: [".txt", ".json", ".lab"])
    """Suffixes of same-stem files (transcripts) copied beside every copy."""
    features: Literal["logmel"] | None = None
    """logmel: write log-mel spectrograms (.npy) instead of audio."""
    n_mels: int = Field(default=64, ge=1)
    """Mel bands, with features: logmel."""
    n_fft: int = Field(default=400, ge=16)
    """FFT window in samples, with features: logmel."""
    hop_length: int = Field(default=160, ge=1)
    """Samples between frames, with features: logmel."""
    spec_pipeline: list[Any] = Field(default_factory=list)
    """SpecAugment steps (FrequencyMask, TimeMask, TimeWarp) on the log-mel; features: logmel only."""
    max_seconds: int = Field(default=DEFAULT_MAX_SECONDS, ge=1, strict=True)
    """A longer clip is refused, its length read from its header before decoding (default 3 hours)."""


DEFAULT_VIDEO_INCLUDE = ["**/*.mp4", "**/*.webm", "**/*.mkv", "**/*.avi", "**/*.mov"]


class VideoSection(_Section):
    """Video clips, read and written with PyAV: albumentations on every frame, and augcli's temporal steps."""

    include: list[str] = Field(default_factory=lambda: list(DEFAULT_VIDEO_INCLUDE))
    """Globs of the files this modality takes (relative to input, case-insensitive)."""
    exclude: list[str] = Field(default_factory=list)
    """Globs left out of include."""
    pipeline: list[Any] = Field(default_factory=list)
    """albumentations steps (one draw per copy, applied to every frame) and temporal steps, in order."""
    crf: int | None = Field(default=None, ge=0, le=63)
    """Constant quality of the copies; null: 18 for H.264, 30 for VP9, 8 for VP8."""
    bitrate: Union[int, str] | None = None  # noqa: UP007 (pydantic keeps the order)
    """Instead of crf: bits per second, 2000000, '2M' or '800k'."""
    drop_audio: bool = False
    """true: write the copies without their audio track (it is never dropped silently)."""


class SynonymSection(_Section):
    """How WordNet steps pick replacements (augcli/modalities/text_lexicon.py)."""

    min_count: int = Field(default=1, ge=0)
    """Senses (and a replacement's use in one) tagged fewer times than this in WordNet are dropped."""
    min_share: float = Field(default=0.2, ge=0, le=1)
    """Senses used less than this share of the word's most used sense are dropped."""
    multiword: bool = False
    """true: allow a phrase ("brush aside") for a one-word slot."""
    all_caps: bool = False
    """true: also replace ALL-CAPS words (NASA)."""
    names: bool = False
    """true: also replace capitalised words inside a sentence (Marvin, Galaxy)."""


class TextSection(_Section):
    """Text files, lines and table rows, augmented with nlpaug and EDA."""

    include: list[str] = Field(default_factory=lambda: list(DEFAULT_TEXT_INCLUDE))
    """Globs of the files this modality takes (relative to input, case-insensitive)."""
    exclude: list[str] = Field(default_factory=list)
    """Globs left out of include."""
    pipeline: list[Any] = Field(default_factory=list)
    """nlpaug augmenters and EDA steps with their own parameters, applied in order."""
    unit: Literal["file", "line"] = "file"
    """file: a .txt is one sample; line: each non-empty line of a .txt is one."""
    column: str = "text"
    """The CSV/TSV column holding the text."""
    field: str = "text"
    """The JSONL field holding the text."""
    encoding: str = "utf-8"
    """The text files' encoding; a UTF-8 byte-order mark is accepted and kept."""
    protect: list[str] = Field(default_factory=list)
    """Regexes whose matches a step may never change."""
    drop_unchanged: bool = False
    """true: leave out augmented samples identical to their source."""
    wordnet: Path | None = None
    """A WordNet 3.0 dict folder or an NLTK data folder holding corpora/wordnet; null: found locally."""
    synonyms: SynonymSection = Field(default_factory=SynonymSection)
    """How SynonymAug, AntonymAug, EDA, SynonymReplacement and RandomInsertion choose replacements."""
    max_chars: int = Field(default=DEFAULT_MAX_CHARS, ge=1, strict=True)
    """A longer sample (a file, a line or a table field) is refused (default 10 million characters)."""


class Balance(_Section):
    """Class balancing: copies per source planned so every label reaches ``target`` outputs."""

    target: Union[Literal["max", "median"], int] = "max"  # noqa: UP007 (pydantic keeps the order)
    """Outputs (originals and copies) per label: max (the largest label's sources), median (rounded up) or a number."""
    max_copies: int = Field(default=20, ge=0, le=MAX_COPIES)
    """Never more copies of one source, so a label can stay short of the target."""
    min_copies: int = Field(default=0, ge=0)
    """Every labelled source gets at least this many, in labels already at the target too."""

    @field_validator("target", mode="before")
    @classmethod
    def _max_median_or_count(cls, value: Any) -> Any:
        if value in ("max", "median") or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            return value
        raise ValueError(f"must be 'max', 'median' or a whole number >= 1 (outputs per label), not {value!r}")

    @model_validator(mode="after")
    def _min_below_max(self) -> Balance:
        if self.min_copies > self.max_copies:
            raise ValueError(f"min_copies ({self.min_copies}) is above max_copies ({self.max_copies})")
        return self


class ExecutorSection(_Section):
    """Where the tasks run: the local pool of worker processes, or a dask / Ray cluster (augcli/executors/)."""

    name: Literal["local", "dask", "ray"] = "local"
    """local: worker processes on this machine (workers); dask: a dask distributed cluster; ray: a Ray cluster."""
    address: str | None = None
    """dask: tcp://HOST:8786 (null: a LocalCluster of every core, for this run); ray: auto or ray://HOST:10001."""

    @model_validator(mode="after")
    def _address_needs_a_cluster(self) -> ExecutorSection:
        if self.name == "local" and self.address:
            raise ValueError("address is for a cluster: set name to dask or ray, or leave address out")
        return self


class Config(_Section):
    input: Path
    """The dataset root, relative to the config file."""
    output: Path
    """Where the augmented dataset goes, relative to the config file; not inside input, nor holding it."""
    seed: int = Field(default=0, ge=0)
    """The run seed: an output's seed is derived from it, the source's path and the copy index."""
    copies: int = Field(default=1, ge=1)
    """Augmented copies per source."""
    keep_originals: bool = True
    """Also place the sources in output, byte for byte: a complete training set."""
    workers: Union[Literal["auto"], int] = "auto"  # noqa: UP007 (pydantic keeps the order)
    """Worker processes: auto (the usable cores, or the main process alone for a job too small to repay them)
    or a number."""
    on_error: Literal["skip", "fail"] = "skip"
    """skip: record a source that fails and go on; fail: stop at the first one."""
    exclude: list[str] = Field(default_factory=list)
    """Globs left out for every modality."""
    splits: Splits = Field(default_factory=Splits)
    """With split folders at the top of input: which are augmented, which copied unchanged."""
    balance: Balance | None = None
    """Plan the copies per source so that every label reaches a target."""
    image: ImageSection | None = None
    """Images: what to take and the albumentations pipeline."""
    audio: AudioSection | None = None
    """Audio: what to take and the audiomentations pipeline."""
    text: TextSection | None = None
    """Text: what to take and the nlpaug / EDA pipeline."""
    video: VideoSection | None = None
    """Video clips: what to take, the frame and temporal pipeline, how copies are encoded."""
    executor: ExecutorSection = Field(default_factory=ExecutorSection)
    """Where the tasks run: local (this machine's worker processes), dask or ray; a name alone or a mapping."""
    _warnings: list[Problem] = PrivateAttr(default_factory=list)

    @field_validator("executor", mode="before")
    @classmethod
    def _executor_by_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value  # ``executor: dask`` says {name: dask}

    @property
    def warnings(self) -> list[Problem]:
        """What the libraries warned while the pipelines were built (a value they change, a deprecated
        step), each under its YAML path: the run goes on with what they made; ``validate`` shows them."""
        return self._warnings

    @field_validator("workers", mode="before")
    @classmethod
    def _auto_or_positive(cls, value: Any) -> Any:
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            return value
        raise ValueError(f"must be 'auto' or a whole number >= 1, not {value!r}")

    def n_workers(self, tasks: Sequence[Any] | None = None) -> int:
        """The worker processes to use: ``workers``, or for ``auto`` every usable core, unless
        ``tasks`` (plan.Task objects) are too little work to repay starting them: then 1, the
        main process, which has imported and built everything already (see augcli/workers.py)."""
        from augcli import workers

        if self.workers != "auto":
            return self.workers
        if tasks is None:
            return workers.usable_cores()
        return workers.auto_workers(self.input, tasks, self.copies)

    def to_plain(self) -> dict[str, Any]:
        """The resolved config as plain JSON data (recorded in run.json)."""
        return self.model_dump(mode="json", by_alias=True)


def load_config(
    source: str | os.PathLike | dict,
    overrides: dict[str, Any] | None = None,
    base_dir: str | os.PathLike | None = None,
    *,
    plugin: Callable[[str], Any],
) -> Config:
    """Read, validate and resolve a config, and build every pipeline in it.

    ``source`` is a YAML file or an already-parsed mapping (then relative paths resolve
    against ``base_dir``, default the working directory). ``overrides`` replace top-level
    keys, as the CLI's options do. ``plugin(name)`` is a modality's plug-in, which checks its
    section (``check_section``) and resolves its paths (``resolve_paths``): the layer above
    supplies it (``augcli.modalities.registry.load_config``), so config imports no modality.
    Raises ConfigError listing every problem found.
    """
    if isinstance(source, dict):
        raw, where = dict(source), None
        base = Path(base_dir or ".").resolve()
    else:
        path = Path(source)
        raw, where = _read_yaml(path), str(path)
        base = path.resolve().parent
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if isinstance(overrides.get("executor"), dict):  # --executor / --address: each replaces its own key
        given = raw.get("executor")
        given = {"name": given} if isinstance(given, str) else given
        if isinstance(given, dict):
            if "name" in overrides["executor"] and overrides["executor"]["name"] != given.get("name"):
                given = {}  # another engine: the config's address was for its own
            overrides["executor"] = {**given, **overrides["executor"]}
    raw.update(overrides)

    problems: list[Problem] = []
    config = None
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        problems += _problems_from_pydantic(exc)
    # Paths and pipelines are checked even when the schema failed, so one pass reports everything.
    if isinstance(raw.get("input"), str) and isinstance(raw.get("output"), str):
        problems += _check_paths((base / raw["input"]).resolve(), (base / raw["output"]).resolve())
    if all(raw.get(name) is None for name in MODALITIES):
        problems.append(Problem("", "nothing to do: add an 'image', 'audio', 'text' or 'video' section with a "
                                    "pipeline"))
    for name in MODALITIES:
        section = raw.get(name)
        if isinstance(section, dict) and "pipeline" in section:
            problems += plugin(name).check_section(section, base, name)
    if errors_in(problems):
        raise ConfigError(errors_in(problems), where)
    update = {"input": (base / config.input).resolve(), "output": (base / config.output).resolve()}
    for name in MODALITIES:
        if getattr(config, name) is not None:
            update[name] = plugin(name).resolve_paths(getattr(config, name), base)
    resolved = config.model_copy(update=update)
    resolved._warnings = [p for p in problems if p.warning]
    return resolved


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem("", f"config file {path} does not exist")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem("", f"cannot read config file {path}: {exc}")]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([Problem("", f"YAML syntax error{at}: {reason}")], str(path)) from None
    if not isinstance(raw, dict):
        raise ConfigError([Problem("", "the config must be a YAML mapping (key: value lines)")], str(path))
    return raw


def _check_paths(src: Path, dst: Path) -> list[Problem]:
    problems = []
    if not src.is_dir():
        problems.append(Problem("input", f"{src} is not a folder"))
    if dst == src or src in dst.parents:
        problems.append(Problem("output", f"{dst} is inside the input folder {src}; choose a folder outside it"))
    elif dst in src.parents:
        problems.append(Problem("output", f"{dst} contains the input folder {src}; choose a folder outside it"))
    elif dst.exists() and not dst.is_dir():
        problems.append(Problem("output", f"{dst} exists and is not a folder"))
    return problems


def _problems_from_pydantic(exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = err["loc"]
        if err["type"] == "extra_forbidden":
            known = _field_names(loc[:-1])
            msg = f"unknown key '{loc[-1]}'{suggest(str(loc[-1]), known)}; known keys: {', '.join(known)}"
        elif err["type"] == "missing":
            msg = "required key is missing"
        else:
            msg = err["msg"].removeprefix("Value error, ")
        problems.append(Problem(yaml_path(loc), msg))
    return problems


def _field_names(loc: tuple) -> list[str]:
    model: type[BaseModel] = Config
    for part in loc:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        candidates = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)]
        model = next((a for a in candidates if issubclass(a, BaseModel)), None)
        if model is None:
            return []
    return [f.alias or name for name, f in model.model_fields.items()]
