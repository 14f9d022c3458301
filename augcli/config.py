"""YAML -> validated, resolved Config. Every problem is reported with its YAML path."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from augcli.errors import ConfigError, Problem, errors_in, suggest, yaml_path

DEFAULT_TEXT_INCLUDE = ["**/*.txt", "**/*.csv", "**/*.tsv", "**/*.jsonl"]
DEFAULT_IMAGE_INCLUDE = ["**/*.jpg", "**/*.jpeg", "**/*.png", "**/*.bmp", "**/*.tif", "**/*.tiff", "**/*.webp"]
MODALITIES = ("image", "audio", "text", "video")  # discovery order: the first whose include matches takes a file


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Splits(_Section):
    """Which top-level split folders are augmented and which are copied unchanged."""

    augment: list[str] = Field(default_factory=lambda: ["train"])
    copy_: list[str] = Field(default_factory=lambda: ["val", "valid", "validation", "test"], alias="copy")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


#: Size limits: a source over one is an error naming the file, its size and the key (see the README).
#: The image default is PIL's decompression-bomb limit; the others are far above any real sample.
DEFAULT_MAX_PIXELS = 89_478_485  # about 89.5 megapixels: 1 GB of decoded RGB, 9459 x 9459
DEFAULT_MAX_SECONDS = 10_800  # 3 hours of audio: 4 GB of float32 samples at 48 kHz stereo
DEFAULT_MAX_CHARS = 10_000_000  # characters of one text sample: a file, a line or a table field

#: More copies of one source than this is refused (exit 2): a mistyped number far more often than a wish.
MAX_COPIES = 100_000


class Mix(_Section):
    """Mixup / CutMix outputs: each source mixed with partners drawn from its augmented split."""

    method: Literal["mixup", "cutmix"]
    alpha: float | None = Field(default=None, gt=0)  # Beta(alpha, alpha); default 0.4 for mixup, 1.0 for cutmix
    copies: int = Field(default=1, ge=1, le=MAX_COPIES)  # mixed outputs per source
    same_label: bool = False  # partners only from the source's own label


class AnnotationsSection(_Section):
    """Detection, segmentation and pose labels that move with the pixels (COCO, YOLO, VOC, mask folders)."""

    format: Literal["coco", "yolo", "voc", "masks", "none"] | None = None  # None: detect; none: plain images
    file: str | None = None  # coco: the JSON, relative to input
    images: str | None = None  # coco: the folder its file_names are relative to, relative to input
    min_visibility: float = Field(default=0.0, ge=0.0, le=1.0)  # albumentations BboxParams names
    min_area: float = Field(default=0.0, ge=0.0)
    keep_empty: bool = True  # keep copies that lost every object, as background images


class ImageSection(_Section):
    include: list[str] = Field(default_factory=lambda: list(DEFAULT_IMAGE_INCLUDE))
    exclude: list[str] = Field(default_factory=list)
    pipeline: list[Any] = Field(default_factory=list)
    format: Literal["jpg", "png", "webp", "bmp", "tiff"] | None = None
    quality: int | None = Field(default=None, ge=1, le=100)
    mix: Mix | None = None
    annotations: AnnotationsSection | None = None  # None: the layout is detected
    max_pixels: int = Field(default=DEFAULT_MAX_PIXELS, ge=1, strict=True)  # width x height, read from the header


DEFAULT_AUDIO_INCLUDE = ["**/*.wav", "**/*.flac", "**/*.ogg", "**/*.mp3"]


class AudioSection(_Section):
    include: list[str] = Field(default_factory=lambda: list(DEFAULT_AUDIO_INCLUDE))
    exclude: list[str] = Field(default_factory=list)
    pipeline: list[Any] = Field(default_factory=list)
    sample_rate: int | None = Field(default=None, ge=1000)  # resample (librosa) before augmenting
    mono: bool = False  # down-mix to one channel before augmenting
    sidecars: list[str] = Field(default_factory=lambda: [".txt", ".json", ".lab"])  # same-stem files copied along
    features: Literal["logmel"] | None = None  # write log-mel spectrograms (.npy) instead of audio
    n_mels: int = Field(default=64, ge=1)
    n_fft: int = Field(default=400, ge=16)
    hop_length: int = Field(default=160, ge=1)
    spec_pipeline: list[Any] = Field(default_factory=list)  # SpecAugment steps on the log-mel
    max_seconds: int = Field(default=DEFAULT_MAX_SECONDS, ge=1, strict=True)  # a clip's length, from its header


DEFAULT_VIDEO_INCLUDE = ["**/*.mp4", "**/*.webm", "**/*.mkv", "**/*.avi", "**/*.mov"]


class VideoSection(_Section):
    include: list[str] = Field(default_factory=lambda: list(DEFAULT_VIDEO_INCLUDE))
    exclude: list[str] = Field(default_factory=list)
    pipeline: list[Any] = Field(default_factory=list)  # albumentations steps on every frame, and temporal steps
    crf: int | None = Field(default=None, ge=0, le=63)  # None: 18 for H.264, 30 for VP9, 8 for VP8
    bitrate: Union[int, str] | None = None  # noqa: UP007 (bits per second, '2M', '800k'; instead of crf)
    drop_audio: bool = False  # write the copies without their audio track


class SynonymSection(_Section):
    """How WordNet steps pick replacements (augcli/modalities/text_lexicon.py)."""

    min_count: int = Field(default=1, ge=0)  # senses (and a replacement's use in one) tagged fewer times are dropped
    min_share: float = Field(default=0.2, ge=0, le=1)  # senses used less than this share of the top one are dropped
    multiword: bool = False  # allow "brush aside" for a one-word slot
    all_caps: bool = False  # also replace ALL-CAPS words
    names: bool = False  # also replace capitalised words inside a sentence


class TextSection(_Section):
    include: list[str] = Field(default_factory=lambda: list(DEFAULT_TEXT_INCLUDE))
    exclude: list[str] = Field(default_factory=list)
    pipeline: list[Any] = Field(default_factory=list)
    unit: Literal["file", "line"] = "file"  # a .txt file is one sample, or each non-empty line is
    column: str = "text"  # CSV/TSV column holding the text
    field: str = "text"  # JSONL field holding the text
    encoding: str = "utf-8"
    protect: list[str] = Field(default_factory=list)  # regexes whose matches are never changed
    drop_unchanged: bool = False
    wordnet: Path | None = None  # a WordNet 3.0 dict folder or an NLTK data folder
    synonyms: SynonymSection = Field(default_factory=SynonymSection)
    max_chars: int = Field(default=DEFAULT_MAX_CHARS, ge=1, strict=True)  # one sample: a file, a line or a field


class Balance(_Section):
    """Class balancing: copies per source planned so every label reaches ``target`` outputs."""

    target: Union[Literal["max", "median"], int] = "max"  # noqa: UP007 (outputs per label: originals + copies)
    max_copies: int = Field(default=20, ge=0, le=MAX_COPIES)  # never more copies of one source
    min_copies: int = Field(default=0, ge=0)  # every labelled source gets at least this many

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
    address: str | None = None  # dask: tcp://HOST:8786 (none: a LocalCluster); ray: auto | ray://HOST:10001

    @model_validator(mode="after")
    def _address_needs_a_cluster(self) -> ExecutorSection:
        if self.name == "local" and self.address:
            raise ValueError("address is for a cluster: set name to dask or ray, or leave address out")
        return self


class Config(_Section):
    input: Path
    output: Path
    seed: int = Field(default=0, ge=0)
    copies: int = Field(default=1, ge=1)
    keep_originals: bool = True
    workers: Union[Literal["auto"], int] = "auto"  # noqa: UP007 (pydantic keeps the order)
    on_error: Literal["skip", "fail"] = "skip"
    exclude: list[str] = Field(default_factory=list)
    splits: Splits = Field(default_factory=Splits)
    balance: Balance | None = None
    image: ImageSection | None = None
    audio: AudioSection | None = None
    text: TextSection | None = None
    video: VideoSection | None = None
    executor: ExecutorSection = Field(default_factory=ExecutorSection)
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
