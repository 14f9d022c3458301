"""render: an output no step changed is the source's own bytes, when that is exact."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from augcli.modalities import image
from tests.conftest import invoke, write_config

NEVER = [{"HorizontalFlip": {"p": 0.0}}]
ALWAYS = [{"HorizontalFlip": {"p": 1.0}}]


def jpeg(photo: np.ndarray, exif_orientation: int | None = None) -> bytes:
    pil, buf = Image.fromarray(photo[:, :, ::-1]), io.BytesIO()
    if exif_orientation is None:
        pil.save(buf, "JPEG", quality=90)
    else:
        exif = pil.getexif()
        exif[0x0112] = exif_orientation
        pil.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


def test_nothing_applied_gives_the_source_bytes(photos):
    data = jpeg(photos[0])
    blob, applied = image.render(image.build_pipeline(NEVER), image.decode(data), 1, ".jpg", None, (data, "a.JPEG"))
    assert applied == [] and blob == data


@pytest.mark.parametrize("case", ["applied", "other format", "exif orientation", "no source"])
def test_otherwise_the_output_is_encoded(photos, case):
    data = jpeg(photos[0], exif_orientation=6 if case == "exif orientation" else None)
    steps = ALWAYS if case == "applied" else NEVER
    suffix = ".png" if case == "other format" else ".jpg"
    source = None if case == "no source" else (data, "a.jpg")
    blob, _ = image.render(image.build_pipeline(steps), image.decode(data), 1, suffix, None, source)
    assert blob != data
    assert blob == image.encode(image.augment(image.build_pipeline(steps), image.decode(data), 1)[0], suffix, None)


def test_a_run_records_unchanged_outputs_as_the_source(tmp_path, photos):
    (tmp_path / "data" / "train").mkdir(parents=True)
    for i in range(4):
        (tmp_path / "data" / "train" / f"p{i}.jpg").write_bytes(jpeg(photos[i]))
    cfg = write_config(tmp_path / "c.yaml", copies=4, keep_originals=False,
                       image={"pipeline": [{"HorizontalFlip": {"p": 0.5}}]})
    assert invoke("run", cfg).exit_code == 0
    rows = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    same = [r for r in rows if r["sha256"] == r["source_sha256"]]
    assert same and len(same) < len(rows)
    assert all(r["transforms"] == [] for r in same) and all(r["transforms"] for r in rows if r not in same)
    for r in same:
        assert (tmp_path / "out" / r["output"]).read_bytes() == (tmp_path / "data" / r["source"]).read_bytes()
    assert invoke("verify", tmp_path / "out").exit_code == 0


def test_pipeline_for_reuses_the_pipeline_of_the_same_steps():
    steps = [{"HorizontalFlip": {"p": 0.5}}]
    assert image.pipeline_for(steps) is image.pipeline_for(steps)
    assert image.pipeline_for(json.loads(json.dumps(steps))) is image.pipeline_for(steps)
    assert image.pipeline_for([{"VerticalFlip": {"p": 0.5}}]) is not image.pipeline_for(steps)
