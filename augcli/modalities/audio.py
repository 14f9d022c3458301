"""Audio with audiomentations: build a pipeline from config; read/write with soundfile; apply with record."""

from __future__ import annotations

import inspect
import io
import json
import os
from functools import lru_cache
from typing import Any

import numpy as np

from augcli.audio_codec import read, write
from augcli.errors import ConfigError, ItemError, Problem, errors_in, suggest
from augcli.manifest import applied_steps
from augcli.modalities import steps as steps_
from augcli.samples import CELL, Cell, Sample, pick_samples
from augcli.seeding import item_seed, seed_globals

COMPOSITIONS = ("Compose", "OneOf", "SomeOf")
PATH_PARAMS = {"AddBackgroundNoise": ("sounds_path",), "AddShortNoises": ("sounds_path",),
               "ApplyImpulseResponse": ("ir_path",)}
SPEC_STEPS = {  # SpecAugment (Park et al. 2019) on a log-mel spectrogram (n_mels, frames)
    "FrequencyMask": {"max_width": 8, "count": 1, "p": 1.0},
    "TimeMask": {"max_width": 20, "count": 1, "p": 1.0},
    "TimeWarp": {"max_shift": 5, "p": 1.0},
}
_NOT_STEPS = {"Lambda", "BaseCompose"}


#: What processing a clip imports beyond validation (0.7 s): a main process about to fork workers imports
#: it once, for all of them (augcli.runner.execute).
WORKER_IMPORTS = ("soundfile", "librosa")


def step_names() -> list[str]:
    import audiomentations

    return sorted(n for n in dir(audiomentations) if inspect.isclass(getattr(audiomentations, n))
                  and n[0].isupper() and n not in _NOT_STEPS)


# ---------------------------------------------------------------- building from config


class _Recorder:
    """Wraps each leaf's ``apply`` so the steps a call really applied are recorded in call order.

    audiomentations leaves keep their last sampled ``parameters`` without resetting them, so
    reading them after a call would report steps that were not applied this time.
    """

    def __init__(self):
        self.applied: list[tuple[str, dict]] = []
        self.find_non_finite = False  # when set, the first step whose output is NaN/inf is kept in
        self.non_finite: tuple[str, dict] | None = None  # ``non_finite`` (a second pass, on failure only)

    def watch(self, transform: Any) -> None:
        inner, name = transform.apply, type(transform).__name__

        def apply(samples, sample_rate):
            self.applied.append((name, dict(transform.parameters)))
            out = inner(samples, sample_rate)
            if self.find_non_finite and self.non_finite is None and not np.isfinite(out).all():
                self.non_finite = self.applied[-1]
            return out

        transform.apply = apply


class Pipeline:
    def __init__(self, compose: Any, recorder: _Recorder, spec_steps: list[tuple[str, dict]]):
        self.compose, self.recorder, self.spec_steps = compose, recorder, spec_steps
        self.mono_only = _mono_only_steps(compose)  # built once per process, checked for every clip


def _mono_only_steps(compose: Any) -> list[str]:
    """The steps (at any depth: inside OneOf, SomeOf...) that audiomentations applies to mono audio only
    (``supports_multichannel`` False: AddBackgroundNoise, AddShortNoises...)."""
    found, stack = [], [compose]
    while stack:
        step = stack.pop()
        if getattr(step, "supports_multichannel", True) is False:
            found.append(type(step).__name__)
        stack.extend(getattr(step, "transforms", None) or [])
    return sorted(set(found))


def check_section(section: dict, base: Any, path: str) -> list[Problem]:
    problems: list[Problem] = []
    resolved = steps_.resolve_step_paths(section["pipeline"], base, PATH_PARAMS)
    _build_steps(resolved, f"{path}.pipeline", problems, _Recorder())
    _spec_steps(section.get("spec_pipeline") or [], f"{path}.spec_pipeline", problems)
    if section.get("spec_pipeline") and section.get("features") != "logmel":
        problems.append(Problem(f"{path}.spec_pipeline", "needs 'features: logmel' (it works on spectrograms)"))
    return problems


def resolve_paths(section: Any, base: Any) -> Any:
    return section.model_copy(update={"pipeline": steps_.resolve_step_paths(section.pipeline, base, PATH_PARAMS)})


@lru_cache(maxsize=4)
def _cached(section_json: str) -> Pipeline:
    import audiomentations

    section = json.loads(section_json)
    problems: list[Problem] = []
    recorder = _Recorder()
    transforms = _build_steps(section["pipeline"], "audio.pipeline", problems, recorder)
    spec = _spec_steps(section.get("spec_pipeline") or [], "audio.spec_pipeline", problems)
    if errors_in(problems):
        raise ConfigError(errors_in(problems))
    return Pipeline(audiomentations.Compose(transforms, p=1.0), recorder, spec)


_last_built: list = [None, None]  # [section, its Pipeline]: a worker gets one config per chunk of tasks


def pipeline_for(section: Any) -> Pipeline:
    if not hasattr(section, "model_dump"):  # a plain dict (tests, tools): may change between calls
        return _cached(json.dumps(section, sort_keys=True, default=str))
    if _last_built[0] is not section:  # the same config object: not re-serialised for every clip
        _last_built[:] = [section, _cached(json.dumps(section.model_dump(mode="json"), sort_keys=True, default=str))]
    return _last_built[1]


def _build_steps(steps: Any, path: str, problems: list[Problem], recorder: _Recorder) -> list:
    return steps_.build_list(steps, path, problems, lambda step, where: _build_step(step, where, problems, recorder),
                             "[{Gain: {p: 0.5}}]")


def _build_step(step: Any, path: str, problems: list[Problem], recorder: _Recorder) -> Any:
    import audiomentations

    parsed = steps_.parse_step(step, path, problems, modality="audio", kind="transform", known=step_names(),
                               example="- Gain: {p: 0.5}")
    if parsed is None:
        return None
    name, params = parsed
    where, cls = f"{path}.{name}", getattr(audiomentations, name)
    if not steps_.known_params(name, params, steps_.signature_params(cls), where, problems):
        return None
    if not steps_.check_probabilities(params, where, problems):
        return None
    for key in PATH_PARAMS.get(name, ()):
        if key not in params:
            problems.append(Problem(f"{where}.{key}", "required: a local file or folder"))
            return None
        if not os.path.exists(str(params[key])):
            problems.append(Problem(f"{where}.{key}", f"{params[key]} does not exist"))
            return None
    if name in COMPOSITIONS:
        if "transforms" not in params:
            problems.append(Problem(where, f"{name} needs 'transforms: [...]', a list of steps"))
            return None
        params["transforms"] = _build_steps(params["transforms"], f"{where}.transforms", problems, recorder)
        for key in ("num_transforms",):  # YAML has no tuples
            if isinstance(params.get(key), list):
                params[key] = tuple(params[key])
    try:
        with steps_.library_warnings(where, problems):
            transform = cls(**params)
    except Exception as exc:  # the library's own validation speaks (a bare assert: its condition)
        problems.append(Problem(where, steps_.failure_message(exc)))
        return None
    if name not in COMPOSITIONS:
        recorder.watch(transform)
    return transform


def _spec_steps(steps: Any, path: str, problems: list[Problem]) -> list[tuple[str, dict]]:
    if not isinstance(steps, list):
        problems.append(Problem(path, "must be a list of steps, e.g. [{FrequencyMask: {max_width: 8}}]"))
        return []
    built = []
    for i, step in enumerate(steps):
        name, params = (step, {}) if isinstance(step, str) else (next(iter(step.items())) if isinstance(step, dict)
                                                                 and len(step) == 1 else (None, None))
        where = f"{path}[{i}]"
        if name not in SPEC_STEPS:
            problems.append(Problem(where, f"unknown spectrogram step '{name}'{suggest(str(name), list(SPEC_STEPS))}"))
            continue
        params = params or {}
        unknown = [k for k in params if k not in SPEC_STEPS[name]]
        for key in unknown:
            problems.append(Problem(f"{where}.{name}.{key}",
                                    f"{name} has no parameter '{key}'{suggest(str(key), list(SPEC_STEPS[name]))}"))
        if not unknown:
            built.append((name, {**SPEC_STEPS[name], **params}))
    return built


# ---------------------------------------------------------------- applying


def augment(pipeline: Pipeline, samples: np.ndarray, sample_rate: int, seed: int
            ) -> tuple[np.ndarray, list[tuple[str, dict]]]:
    """Apply the waveform pipeline with this output's seed (audiomentations draws from the globals)."""
    pipeline.recorder.applied = []
    seed_globals(seed)
    out = pipeline.compose(samples=samples, sample_rate=sample_rate)
    return np.asarray(out, dtype=np.float32), list(pipeline.recorder.applied)


def check_finite_output(pipeline: Pipeline, samples: np.ndarray, sample_rate: int, seed: int,
                        augmented: np.ndarray) -> None:
    """A step that turns finite samples into NaN or inf (a gain of +800 dB overflows float32) is an
    error naming it: such a file is noise to every reader. Found by applying again with a check
    after each step, so the run pays one ``isfinite`` per output, not one per step."""
    finite = np.isfinite(augmented)
    if finite.all():
        return
    bad = finite.size - int(np.count_nonzero(finite))
    pipeline.recorder.find_non_finite, pipeline.recorder.non_finite = True, None
    try:
        augment(pipeline, samples, sample_rate, seed)
        culprit = pipeline.recorder.non_finite
    finally:
        pipeline.recorder.find_non_finite = False
    from augcli.manifest import plain

    step = f"step {culprit[0]} (sampled {json.dumps(plain(culprit[1]))})" if culprit else "the pipeline"
    raise ItemError(f"{step} turned the finite samples into {bad} NaN or infinite ones (seed {seed}); "
                    "change its parameters")


def log_mel(samples: np.ndarray, sample_rate: int, n_mels: int, n_fft: int, hop_length: int) -> np.ndarray:
    """Log-mel spectrogram (dB) of the (down-mixed) signal: (n_mels, frames), float32."""
    import librosa

    mono = samples if samples.ndim == 1 else samples.mean(axis=0)
    mel = librosa.feature.melspectrogram(y=mono, sr=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
    return librosa.power_to_db(mel, ref=np.max).astype(np.float32)


def spec_augment(spec: np.ndarray, steps: list[tuple[str, dict]], seed: int) -> tuple[np.ndarray, list]:
    """Frequency masks, time masks and time warping (Park et al. 2019), drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    spec, applied = spec.copy(), []
    fill = float(spec.mean())
    for name, params in steps:
        if rng.random() >= params["p"]:
            continue
        n_freq, n_time = spec.shape
        if name == "FrequencyMask":
            bands = []
            for _ in range(params["count"]):
                width = int(rng.integers(0, params["max_width"] + 1))
                start = int(rng.integers(0, max(1, n_freq - width)))
                spec[start : start + width, :] = fill
                bands.append([start, width])
            applied.append((name, {"bands": bands}))
        elif name == "TimeMask":
            spans = []
            for _ in range(params["count"]):
                width = int(rng.integers(0, min(params["max_width"], n_time) + 1))
                start = int(rng.integers(0, max(1, n_time - width)))
                spec[:, start : start + width] = fill
                spans.append([start, width])
            applied.append((name, {"spans": spans}))
        elif name == "TimeWarp" and n_time > 2 * params["max_shift"] + 2:
            centre = int(rng.integers(params["max_shift"] + 1, n_time - params["max_shift"] - 1))
            shift = int(rng.integers(-params["max_shift"], params["max_shift"] + 1))
            spec = _time_warp(spec, centre, centre + shift)
            applied.append((name, {"centre": centre, "to": centre + shift}))
    return spec, applied


def _time_warp(spec: np.ndarray, source: int, target: int) -> np.ndarray:
    """Move frame ``source`` to ``target``, stretching both sides linearly (SpecAugment's warp)."""
    n_time = spec.shape[1]
    positions = np.concatenate([np.linspace(0, source, target + 1)[:-1],
                                np.linspace(source, n_time - 1, n_time - target)])
    frames = np.arange(n_time)
    return np.stack([np.interp(positions, frames, row) for row in spec]).astype(spec.dtype)


# ---------------------------------------------------------------- a clip (read and written by augcli/audio_codec.py)


def prepare(samples: np.ndarray, rate: int, section: Any) -> tuple[np.ndarray, int]:
    """Down-mix and resample when the config asks."""
    if section.mono and samples.ndim == 2:
        samples = samples.mean(axis=0).astype(np.float32)
    if section.sample_rate and section.sample_rate != rate:
        import librosa

        samples = librosa.resample(samples, orig_sr=rate, target_sr=section.sample_rate, axis=-1).astype(np.float32)
        rate = section.sample_rate
    return samples, rate


def check_channels(pipeline: Pipeline, samples: np.ndarray) -> None:
    """A clip of several channels fails whenever the draw picks a mono-only step, which made the outcome
    depend on the seed: such a clip is an error for every seed, saying what to do."""
    mono_only = pipeline.mono_only if samples.ndim == 2 else []
    if mono_only:
        raise ItemError(f"this clip has {samples.shape[0]} channels and {', '.join(mono_only)} "
                        f"{'works' if len(mono_only) == 1 else 'work'} on mono audio only: set audio.mono: true "
                        "to down-mix clips before augmenting, exclude multichannel clips, or remove the step")


def _duration(samples: np.ndarray, rate: int) -> float:
    return round(samples.shape[-1] / rate, 6)


def process(task: Any, config: Any, rows: list, fragments: list | None = None) -> int:
    """Worker: read a clip once, place it (and its sidecars), write each augmented copy."""
    from augcli.io import sha256, write_atomic
    from augcli.manifest import ManifestRow, applied_steps

    item, section, out_root = task.item, config.audio, str(config.output)
    metadata_fragments(task, config, fragments if fragments is not None else [])
    with open(os.path.join(config.input, item.relpath), "rb") as f:
        data = f.read()
    source_hash = sha256(data)

    sidecars = []  # (relpath, suffix after the clip's stem, bytes, hash): read once for every copy
    for sidecar in item.sidecars:
        with open(os.path.join(config.input, sidecar), "rb") as f:
            blob = f.read()
        sidecars.append((sidecar, sidecar[len(item.relpath.rsplit(".", 1)[0]) :], blob, sha256(blob)))

    def place_sidecars(clip_output: str, copy: int | None, seed: int | None) -> None:
        stem = clip_output.rsplit(".", 1)[0]
        for sidecar, suffix, blob, digest in sidecars:
            write_atomic(os.path.join(out_root, stem + suffix), blob)
            rows.append(ManifestRow(sidecar, stem + suffix, "audio", copy, seed, [], digest, digest, item.label,
                                    item.split, {"sidecar_of": clip_output}))

    if task.outputs:
        samples, rate, info = read(data, section.max_seconds)  # once for all copies; a bad clip is not placed
        samples, rate = prepare(samples, rate, section)
        check_channels(pipeline_for(section), samples)
    if task.original:
        write_atomic(os.path.join(out_root, task.original), data)
        rows.append(ManifestRow(item.relpath, task.original, "audio", None, None, [], source_hash, source_hash,
                                item.label, item.split))
        place_sidecars(task.original, None, None)
    if not task.outputs:
        return 0
    pipeline = pipeline_for(section)
    for copy, (output, seed) in enumerate(zip(task.outputs, task.seeds, strict=True)):
        augmented, applied = augment(pipeline, samples, rate, seed)
        check_finite_output(pipeline, samples, rate, seed, augmented)
        extra: dict[str, Any] = {"duration_in": _duration(samples, rate), "duration_out": _duration(augmented, rate),
                                 "sample_rate": rate, "channels": 1 if augmented.ndim == 1 else augmented.shape[0]}
        if section.features == "logmel":
            spec = log_mel(augmented, rate, section.n_mels, section.n_fft, section.hop_length)
            spec, spec_applied = spec_augment(spec, pipeline.spec_steps, seed)
            applied = [*applied, *spec_applied]
            buffer = io.BytesIO()
            np.save(buffer, spec, allow_pickle=False)
            blob = buffer.getvalue()
            extra["shape"] = list(spec.shape)
        else:
            blob, extra["clipped_samples"] = write(augmented, rate, info)
        write_atomic(os.path.join(out_root, output), blob)
        rows.append(ManifestRow(item.relpath, output, "audio", copy, seed, applied_steps(applied), sha256(blob),
                                source_hash, item.label, item.split, extra))
        place_sidecars(output, copy, seed)
    return 0


def planned_files(task: Any, config: Any) -> tuple[int, list[str]]:
    """What ``process`` writes for this task: each clip (original, copies) with its sidecars, and the
    audiofolder metadata.csv files it adds rows to (counted once per run)."""
    clips = len(task.outputs) + (task.original is not None)
    fragments: list = []
    metadata_fragments(task, config, fragments)
    return clips * (1 + len(task.item.sidecars)), [fragment.target for fragment in fragments]


def metadata_fragments(task: Any, config: Any, fragments: list) -> None:
    """A Hugging Face audiofolder metadata.csv in a folder above the clip is written again with a row per
    clip in the output (its original and copies): the clip contributes a fragment to each such file."""
    from augcli.aggregate import Fragment

    names = ([task.original] if task.original else []) + list(task.outputs)
    parts = task.item.relpath.split("/")[:-1]
    for depth in range(len(parts), -1, -1):
        meta = "/".join([*parts[:depth], "metadata.csv"])
        if names and os.path.isfile(os.path.join(config.input, meta)):
            fragments.append(Fragment(meta, "audio", {"source": task.item.relpath, "outputs": names}))


def finish(config: Any, target: str, fragments: list[Any]) -> tuple[bytes, dict]:
    """An audiofolder metadata.csv again, one row per clip written below it (the original and its
    copies, from the fragments, in plan order), every other column kept."""
    import csv

    folder = target[: -len("metadata.csv")]
    outputs = {f["source"]: f["outputs"] for f in fragments}
    with open(config.input / target, encoding="utf-8", newline="") as f:
        table = list(csv.reader(f))
    if not table or "file_name" not in table[0]:  # not an audiofolder table: kept as it is
        return (config.input / target).read_bytes(), {"metadata_rows": max(0, len(table) - 1)}
    column = table[0].index("file_name")
    out_rows = [table[0]]
    for row in table[1:]:
        names = outputs.get(folder + row[column], []) if len(row) > column else []
        out_rows += [[*row[:column], name[len(folder):], *row[column + 1 :]] for name in names]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(out_rows)
    return buffer.getvalue().encode("utf-8"), {"metadata_rows": len(out_rows) - 1}


def describe_steps() -> list[dict[str, Any]]:
    import audiomentations

    from augcli.manifest import plain

    described = []
    for name in step_names():
        cls = getattr(audiomentations, name)
        params = {p.name: ({"required": True} if p.default is p.empty else {"default": plain(p.default)})
                  for p in inspect.signature(cls.__init__).parameters.values()
                  if p.name not in ("self", "args", "kwargs")}
        doc = (inspect.getdoc(cls) or "").strip().splitlines()
        described.append({"name": name, "composition": name in COMPOSITIONS, "params": params,
                          "summary": doc[0] if doc else ""})
    for name, defaults in SPEC_STEPS.items():
        params = {k: {"default": v} for k, v in defaults.items()}
        described.append({"name": name, "composition": False, "params": params,
                          "summary": "SpecAugment (Park et al. 2019) on audio.features: logmel; audio.spec_pipeline"})
    return described


def preview(config: Any, items: list, n: int, copies: int, failed: list | None = None) -> list[Sample]:
    """``n`` of these clips spread across labels: spectrograms of the original and of the copies a run
    writes, and their file bytes to listen to."""
    pipeline = pipeline_for(config.audio)
    samples = []
    for item in pick_samples(items, n):
        sample = Sample(item.relpath, item.label)
        suffix = os.path.splitext(item.relpath)[1]
        try:
            with open(os.path.join(config.input, item.relpath), "rb") as f:
                data = f.read()
            clip, rate, info = read(data, config.audio.max_seconds)
        except (ItemError, OSError) as exc:
            sample.error = str(exc)
            samples.append(sample)
            continue
        clip, rate = prepare(clip, rate, config.audio)
        original, _ = write(clip, rate, info)
        sample.cells.append(Cell(spectrogram_image(clip, rate), "original", clip=original, clip_suffix=suffix))
        for k in range(copies):
            seed = item_seed(config.seed, item.relpath, k)
            augmented, applied = augment(pipeline, clip, rate, seed)
            blob, _ = write(augmented, rate, info)
            written, _, _ = read(blob)  # what the output file holds, codec and all
            sample.cells.append(Cell(spectrogram_image(written, rate), f"copy {k}", applied_steps(applied), seed,
                                     clip=blob, clip_suffix=suffix))
        samples.append(sample)
    return samples


PIXELS_PER_SECOND = 48  # a 4 s clip fills a cell; a time-stretched copy is visibly narrower


def spectrogram_image(samples: np.ndarray, rate: int) -> np.ndarray:
    """A log-mel spectrogram as a colour image: cell-high, 48 px per second, low frequencies at
    the bottom, 80 dB of range."""
    import cv2

    mel = log_mel(samples, rate, n_mels=96, n_fft=1024, hop_length=max(1, rate // 100))
    scaled = np.clip((mel + 80.0) / 80.0 * 255.0, 0, 255).astype(np.uint8)[::-1]
    width = max(1, round(samples.shape[-1] / rate * PIXELS_PER_SECOND))
    image = cv2.resize(np.ascontiguousarray(scaled), (width, CELL), interpolation=cv2.INTER_AREA)
    return cv2.applyColorMap(image, cv2.COLORMAP_MAGMA)


def library_versions() -> dict[str, str]:
    """From the installed packages' metadata: importing audiomentations (scipy.signal) to ask it
    costs the main process most of a second. numpy and scipy draw and filter the samples too."""
    from importlib.metadata import version

    import soundfile

    return {"audiomentations": version("audiomentations"), "soundfile": soundfile.__version__,
            "libsndfile": soundfile.__libsndfile_version__, "librosa": version("librosa"),
            "numpy": np.__version__, "scipy": version("scipy")}
