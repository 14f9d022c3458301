"""Mixup and CutMix on annotated sets (real photos, hand-traced labels): both images' objects in
the dataset's own layout, cut at the pasted box, and made again by verify."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import augcli
from augcli import mix
from augcli.annotations import geometry
from augcli.manifest import read_manifest
from augcli.modalities.image import decode
from augcli.verify import verify
from tests.conftest import invoke, write_config


def mixrun(tmp_path: Path, data: Path, method: str, out: str = "out", workers: int = 1, annotations=None,
           **mix_keys):
    """A run with one augmented copy and ``image.mix``, PNG outputs (so pixels compare exactly)."""
    config = {"input": str(data), "output": str(tmp_path / out), "seed": 3, "copies": 1, "workers": workers,
              "image": {"pipeline": [{"HorizontalFlip": {"p": 0.5}}], "format": "png",
                        "mix": {"method": method, "copies": 2, **mix_keys},
                        **({"annotations": annotations} if annotations else {})}}
    result = augcli.run(config)
    assert result.exit_code == 0, result.errors
    return result, tmp_path / out, read_manifest(tmp_path / out / "manifest.jsonl")


def mixed(rows: list[dict]) -> list[dict]:
    return [r for r in rows if mix.is_mixed(r)]


def params(row: dict) -> dict:
    return row["transforms"][0]["params"]


def yolo_lines(path: Path) -> list[tuple[int, list[float]]]:
    return [(int(line.split()[0]), [float(v) for v in line.split()[1:]]) for line in path.read_text().splitlines()]


def label_of(image: str) -> str:
    return image.replace("images/", "labels/", 1).rsplit(".", 1)[0] + ".txt"


def read(path: Path) -> np.ndarray:
    return decode(path.read_bytes())


def test_yolo_mixup_keeps_every_source_and_partner_line_and_blends_the_pixels(tmp_path, yolo_data):
    _, out, rows = mixrun(tmp_path, yolo_data, "mixup")
    made = mixed(rows)
    assert [r["output"] for r in made] == [f"images/train/{n}__mix{k}.png" for n in ("astronaut", "chelsea", "coffee")
                                          for k in (0, 1)]
    assert not (out / mix.SOFT_LABELS).exists() and not (out / "mixed").exists()  # hard labels, no soft_labels.csv
    resized = 0
    for row in made:
        p = params(row)
        source, partner = read(yolo_data / row["source"]), read(yolo_data / p["partner"])
        source_lines = yolo_lines(yolo_data / label_of(row["source"]))
        expected_lines = source_lines + yolo_lines(yolo_data / label_of(p["partner"]))
        written = yolo_lines(out / label_of(row["output"]))
        assert [c for c, _ in written] == [c for c, _ in expected_lines]
        # normalised coordinates: a partner scaled with its pixels to the source's size keeps its values
        np.testing.assert_allclose([v for _, vs in written for v in vs], [v for _, vs in expected_lines for v in vs],
                                   atol=1e-6)
        assert row["objects"] == {"in": len(expected_lines), "kept": len(expected_lines), "dropped": [], "clipped": []}
        if partner.shape != source.shape:
            resized += 1
            assert p["partner_resized"]["from"] == list(partner.shape[:2])
        conformed, _ = mix.conform(partner, source)
        lam = p["lambda"]
        blend = lam * source.astype(float) + (1 - lam) * conformed.astype(float)
        assert np.abs(read(out / row["output"]).astype(float) - blend).max() <= 0.5 + 1e-9
        label_row = next(r for r in rows if r["output"] == label_of(row["output"]))
        assert label_row["annotation_of"] == row["output"] and label_row["seed"] == row["seed"]
    assert resized > 0
    assert verify(out, workers=1).exit_code == 0


def test_coco_mixup_adds_the_image_with_both_images_polygons_and_rle(tmp_path, coco_data):
    path = coco_data / "annotations/instances_train.json"
    coco = json.loads(path.read_text())
    coffee = next(i for i in coco["images"] if i["file_name"] == "coffee.jpg")
    cup = next(a for a in coco["annotations"] if a["id"] == 1004)  # the cup becomes a crowd RLE mask
    pixels = geometry.rasterise(cup["segmentation"], None, coffee["height"], coffee["width"])
    cup["segmentation"] = geometry.encode_rle(pixels, None)
    cup["iscrowd"] = 1
    path.write_text(json.dumps(coco))
    _, out, rows = mixrun(tmp_path, coco_data, "mixup")
    written = json.loads((out / "annotations/instances_train.json").read_text())
    by_name = {i["file_name"]: i for i in written["images"]}
    ids = [a["id"] for a in written["annotations"]]
    assert len(ids) == len(set(ids)) and len({i["id"] for i in written["images"]}) == len(written["images"])
    per_image = {i["id"]: [a for a in written["annotations"] if a["image_id"] == i["id"]] for i in written["images"]}
    originals = {i["file_name"]: i["id"] for i in coco["images"]}
    rle_seen = 0
    for row in mixed(rows):
        name = row["output"].removeprefix("images/train/")
        entry = by_name[name]
        source = row["source"].removeprefix("images/train/")
        partner = params(row)["partner"].removeprefix("images/train/")
        source_anns = [a for a in coco["annotations"] if a["image_id"] == originals[source]]
        partner_anns = [a for a in coco["annotations"] if a["image_id"] == originals[partner]]
        anns = per_image[entry["id"]]
        assert (entry["width"], entry["height"]) == (by_name[source]["width"], by_name[source]["height"])
        assert [a["category_id"] for a in anns] == [a["category_id"] for a in source_anns + partner_anns]
        assert row["objects"]["in"] == len(anns) and row["objects"]["kept"] == len(anns)
        for a in anns:
            h, w = entry["height"], entry["width"]
            if isinstance(a["segmentation"], dict):  # RLE: the size of the mixed image, area = its pixels
                rle_seen += 1
                assert a["segmentation"]["size"] == [h, w]
                decoded = geometry.rasterise((), a["segmentation"], h, w)
                assert a["area"] == float(decoded.sum())
                assert a["bbox"] == [round(v, 2) for v in geometry.mask_bounds(decoded)]
            else:
                # (the area is the rasterised polygon's before its vertices are rounded to 2 decimals)
                assert a["area"] == pytest.approx(geometry.polygons_area(a["segmentation"], h, w), rel=1e-3)
                assert a["bbox"] == [round(v, 2) for v in geometry.bounds(a["segmentation"])]
        scale = entry["height"] / by_name[partner]["height"]
        for mine, theirs in zip(anns[len(source_anns):], partner_anns, strict=True):  # the partner's, scaled
            if isinstance(theirs["segmentation"], list):
                np.testing.assert_allclose(mine["segmentation"][0][1::2],
                                           np.array(theirs["segmentation"][0][1::2]) * scale, atol=0.006)
    assert rle_seen >= 2  # the cup as the source's and as a partner's (resized with its pixels)
    assert verify(out, workers=1).exit_code == 0


def visible_box(corners, rect, inside: bool):
    """By hand: the part of a box (x0, y0, x1, y1) inside or outside rect, as rectangles that
    partition it; (its bounding box, its area / the box's area), or (None, 0)."""
    x0, y0, x1, y1 = corners
    rx0, ry0, rx1, ry1 = rect
    if inside:
        pieces = [(max(x0, rx0), max(y0, ry0), min(x1, rx1), min(y1, ry1))]
    else:  # left of the rect, right of it, above it, below it
        pieces = [(x0, y0, min(x1, rx0), y1), (max(x0, rx1), y0, x1, y1),
                  (max(x0, rx0), y0, min(x1, rx1), min(y1, ry0)), (max(x0, rx0), max(y0, ry1), min(x1, rx1), y1)]
    pieces = [p for p in pieces if p[2] > p[0] and p[3] > p[1]]
    if not pieces:
        return None, 0.0
    area = sum((p[2] - p[0]) * (p[3] - p[1]) for p in pieces)
    bounds = (min(p[0] for p in pieces), min(p[1] for p in pieces), max(p[2] for p in pieces),
              max(p[3] for p in pieces))
    return bounds, area / ((x1 - x0) * (y1 - y0))


def expected_cutmix_lines(data: Path, row: dict, min_visibility: float = 0.0):
    """The label lines of a CutMix output of a YOLO detect set, from the recorded box; and the
    record (dropped, clipped) it implies."""
    p = params(row)
    h, w = read(data / row["source"]).shape[:2]
    lines, dropped, clipped = [], [], []
    for who, label, inside in ((None, label_of(row["source"]), False), ("partner:", label_of(p["partner"]), True)):
        for n, (cls, (cx, cy, bw, bh)) in enumerate(yolo_lines(data / label), start=1):
            corners = ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)
            box, fraction = visible_box(corners, p["box"], inside)
            key = f"{who}{n}" if who else n
            if box is None or fraction < min_visibility:
                dropped.append((key, fraction))
                continue
            if fraction < 1:
                clipped.append(key)
            x0, y0, x1, y1 = box
            lines.append((cls, [(x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h]))
    return lines, dropped, clipped


def test_yolo_cutmix_cuts_objects_at_the_recorded_box(tmp_path, yolo_data):
    _, out, rows = mixrun(tmp_path, yolo_data, "cutmix", alpha=0.5, copies=3)
    covered = straddling = partner_clipped = 0
    for row in mixed(rows):
        lines, dropped, clipped = expected_cutmix_lines(yolo_data, row)
        written = yolo_lines(out / label_of(row["output"]))
        assert [c for c, _ in written] == [c for c, _ in lines]
        np.testing.assert_allclose([v for _, vs in written for v in vs], [v for _, vs in lines for v in vs], atol=2e-6)
        assert row["objects"]["dropped"] == [k for k, _ in dropped] and row["objects"]["clipped"] == clipped
        covered += sum(isinstance(k, int) for k, _ in dropped)  # a source box under the pasted one
        straddling += sum(isinstance(k, int) for k in clipped)
        partner_clipped += sum(isinstance(k, str) for k in clipped)
    assert covered and straddling and partner_clipped  # each case happens on these photos
    assert verify(out, workers=1).exit_code == 0


def test_a_straddling_box_by_hand():
    # a 20x20 box at (10, 10); the pasted box covers its left 5 columns over its full height
    assert geometry.box_outside((10.0, 10.0, 20.0, 20.0), (0, 0, 15, 40)) == ((15.0, 10.0, 15.0, 20.0), 300.0)
    # over a corner only: a full-width strip and a full-height strip stay, so the box is the same
    assert geometry.box_outside((10.0, 10.0, 20.0, 20.0), (0, 0, 15, 15)) == ((10.0, 10.0, 20.0, 20.0), 375.0)
    assert geometry.box_outside((10.0, 10.0, 20.0, 20.0), (5, 5, 35, 35)) == (None, 0.0)
    assert geometry.box_inside((10.0, 10.0, 20.0, 20.0), (0, 0, 15, 15)) == ((10.0, 10.0, 5.0, 5.0), 25.0)
    square = [10, 10, 30, 10, 30, 30, 10, 30]
    assert geometry.clip_polygon_to(square, (0, 0, 15, 40)) == [10, 10, 15, 10, 15, 30, 10, 30]


def test_min_visibility_drops_what_the_pasted_box_hides(tmp_path, yolo_data):
    _, out, rows = mixrun(tmp_path, yolo_data, "cutmix", alpha=0.5, copies=3,
                          annotations={"min_visibility": 0.6})
    by_visibility = 0
    for row in mixed(rows):
        lines, dropped, clipped = expected_cutmix_lines(yolo_data, row, 0.6)
        assert row["objects"]["dropped"] == [k for k, _ in dropped] and row["objects"]["clipped"] == clipped
        assert len(yolo_lines(out / label_of(row["output"]))) == len(lines)
        by_visibility += sum(0 < fraction < 0.6 for _, fraction in dropped)
    assert by_visibility


def test_mask_folder_cutmix_pastes_the_partner_mask_and_mixup_is_refused(tmp_path, masks_data):
    from PIL import Image

    _, out, rows = mixrun(tmp_path, masks_data, "cutmix")
    for row in mixed(rows):
        p = params(row)
        stem = row["output"].rsplit("/", 1)[1].rsplit(".", 1)[0]
        with Image.open(out / f"masks/train/{stem}.png") as img:
            assert img.mode == "P"
            written = np.array(img)
        source = np.array(Image.open(masks_data / row["source"].replace("images", "masks").replace(".jpg", ".png")))
        with Image.open(masks_data / p["partner"].replace("images", "masks").replace(".jpg", ".png")) as img:
            partner = np.array(img.resize(source.shape[::-1], Image.NEAREST))  # PIL's nearest: pixel centres
        x1, y1, x2, y2 = p["box"]
        np.testing.assert_array_equal(written[y1:y2, x1:x2], partner[y1:y2, x1:x2])
        outside = np.ones(source.shape, bool)
        outside[y1:y2, x1:x2] = False
        np.testing.assert_array_equal(written[outside], source[outside])
        assert set(np.unique(written)) <= set(np.unique(source)) | set(np.unique(partner))
    assert verify(out, workers=1).exit_code == 0

    cfg = write_config(tmp_path / "c.yaml", input=str(masks_data), image={"mix": {"method": "mixup"}})
    result = invoke("validate", cfg)
    assert result.exit_code == 2
    assert "image.mix.method: is mixup, but a mask folder" in result.output and "use method: cutmix" in result.output


def test_pose_keypoints_in_the_other_image_part_become_absent(tmp_path, yolo_data):
    (yolo_data / "data.yaml").write_text((yolo_data / "data.yaml").read_text() + "kpt_shape: [2, 3]\n"
                                         "flip_idx: [1, 0]\n")
    for label in (yolo_data / "labels").rglob("*.txt"):  # two keypoints per box: at 1/4 and 3/4 of its diagonal
        lines = []
        for cls, (cx, cy, w, h) in yolo_lines(label):
            points = [cx - w / 4, cy - h / 4, 2, cx + w / 4, cy + h / 4, 2]
            lines.append(" ".join([str(cls), *(f"{v:.6f}" for v in (cx, cy, w, h)),
                                   *(f"{v:.6f}" if i % 3 != 2 else str(v) for i, v in enumerate(points))]))
        label.write_text("".join(line + "\n" for line in lines))
    _, out, rows = mixrun(tmp_path, yolo_data, "cutmix", alpha=0.5, copies=3)
    hidden = shown = 0
    for row in mixed(rows):
        p = params(row)
        h, w = read(yolo_data / row["source"]).shape[:2]
        x1, y1, x2, y2 = p["box"]
        expected = []
        for label, who, inside in ((label_of(row["source"]), "", False), (label_of(p["partner"]), "partner:", True)):
            for n, (_, values) in enumerate(yolo_lines(yolo_data / label), start=1):
                if (f"{who}{n}" if who else n) in row["objects"]["dropped"]:
                    continue
                points = []
                for kx, ky, v in (values[4:7], values[7:10]):
                    in_box = x1 <= kx * w < x2 and y1 <= ky * h < y2
                    points += [kx, ky, v] if in_box == inside else [0.0, 0.0, 0.0]  # YOLO's absent point
                    hidden += in_box != inside
                    shown += in_box == inside
                expected.append(points)
        written = [vs[4:] for _, vs in yolo_lines(out / label_of(row["output"]))]
        np.testing.assert_allclose(written, expected, atol=1e-6)
    assert hidden and shown
    assert verify(out, workers=1).exit_code == 0


def test_coco_cutmix_polygons_keypoints_and_voc_objects(tmp_path, coco_data, voc_data):
    _, out, rows = mixrun(tmp_path, coco_data, "cutmix", alpha=0.5, copies=3)
    written = json.loads((out / "annotations/instances_train.json").read_text())
    images = {i["id"]: i["file_name"] for i in written["images"]}
    source_counts = {"astronaut": 4, "coffee": 2, "chelsea": 3}
    holes = 0
    for row in mixed(rows):  # the source's pixels outside the pasted box, the partner's inside it
        entry = next(i for i in written["images"] if f"images/train/{i['file_name']}" == row["output"])
        x1, y1, x2, y2 = params(row)["box"]
        anns = [a for a in written["annotations"] if a["image_id"] == entry["id"]]
        n_source = source_counts[row["source"].rsplit("/", 1)[1][:-4]]
        n_source -= sum(isinstance(k, int) for k in row["objects"]["dropped"])
        for i, a in enumerate(anns):
            pixels = geometry.rasterise(a["segmentation"], None, entry["height"], entry["width"])
            inside = int(pixels[y1:y2, x1:x2].sum())
            if i >= n_source:
                assert inside == pixels.sum()
            elif inside:  # a box wholly within a source polygon: a polygon has no holes, its outline stays
                assert inside == (x2 - x1) * (y2 - y1)
                holes += 1
    assert holes == 1
    person = [a for a in written["annotations"] if "keypoints" in a and "__mix" in images[a["image_id"]]]
    assert person
    for a in person:
        row = next(r for r in rows if r["output"] == "images/train/" + images[a["image_id"]])
        x1, y1, x2, y2 = params(row)["box"]
        source_person = row["source"].endswith("astronaut.jpg")
        triplets = [a["keypoints"][i:i + 3] for i in range(0, len(a["keypoints"]), 3)]
        for x, y, v in triplets:
            if v:
                assert (x1 <= x < x2 and y1 <= y < y2) != source_person
        assert a["num_keypoints"] == sum(1 for t in triplets if t[2] > 0)
    assert verify(out, workers=1).exit_code == 0

    _, out, rows = mixrun(tmp_path, voc_data, "cutmix", out="voc_out")
    for row in mixed(rows):
        stem = row["output"].rsplit("/", 1)[1].rsplit(".", 1)[0]
        xml = (out / f"Annotations/{stem}.xml").read_text()
        assert f"<filename>{stem}.png</filename>" in xml and xml.count("<object>") == row["objects"]["kept"]
    train = (out / "ImageSets/Main/train.txt").read_text().split()
    assert {"astronaut__mix0", "astronaut__mix1", "coffee__mix1"} <= set(train)
    assert verify(out, workers=1).exit_code == 0


def _hashes(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and p.name != "run.json" and ".augcli" not in p.parts}


@pytest.mark.parametrize("fixture", ["coco_data", "yolo_seg_data"])
def test_same_bytes_with_one_or_two_workers_and_a_rerun_reuses_everything(tmp_path, fixture, request):
    data = request.getfixturevalue(fixture)
    _, one_out, rows = mixrun(tmp_path, data, "cutmix", out="w1", workers=1)
    _, two_out, _ = mixrun(tmp_path, data, "cutmix", out="w2", workers=2)
    one, two = _hashes(one_out), _hashes(two_out)
    assert one == two and any("__mix1" in name for name in one)
    again, _, _ = mixrun(tmp_path, data, "cutmix", out="w1", workers=1)
    assert again.outputs_written == 0 and again.reused == len(rows)  # the aggregates' bytes are the same: kept too
    assert _hashes(one_out) == one


def test_a_source_named_like_a_mixed_output_is_a_collision_before_anything_is_written(tmp_path, yolo_data):
    import shutil

    shutil.copy(yolo_data / "images/train/chelsea.jpg", yolo_data / "images/train/astronaut__mix0.jpg")
    shutil.copy(yolo_data / "labels/train/chelsea.txt", yolo_data / "labels/train/astronaut__mix0.txt")
    config = write_config(tmp_path / "c.yaml", input=str(yolo_data), output=str(tmp_path / "out"), copies=1,
                          image={"pipeline": [{"HorizontalFlip": {"p": 0.5}}], "mix": {"method": "mixup"}})
    result = invoke("run", str(config))
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
    assert ("output name collision: images/train/astronaut__mix0.jpg would be written for both "
            "images/train/astronaut.jpg (mixed output 0) and images/train/astronaut__mix0.jpg (original)") \
        in result.output


def test_a_partner_sliver_outside_the_pasted_box_is_dropped_not_written_without_its_outline():
    from augcli.annotations import mixing
    from augcli.annotations.model import Obj

    # a diagonal sliver between y = x + 0.4 and y = x + 0.6: no pixel centre inside, so judged by its box
    sliver = Obj(id=5, category=1, bbox=(10.0, 10.4, 30.0, 30.2),
                 polygons=((10.0, 10.4, 40.0, 40.4, 40.0, 40.6, 10.0, 10.6),))
    assert geometry.mask_area(geometry.rasterise(sliver.polygons, None, 64, 64)) == 0
    # the pasted box holds a corner of its box but none of its outline
    assert mixing._cut(sliver, (30, 0, 64, 25), True, 64, 64) == (None, 0.0)
    kept, visible = mixing._cut(sliver, (30, 30, 64, 64), True, 64, 64)  # here it holds the sliver's end
    assert kept.polygons and min(kept.polygons[0][0::2]) >= 30 and 0 < visible < 1
