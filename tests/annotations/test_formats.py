"""Each format is written back so its own tools read it: pycocotools, a strict Ultralytics parser,
an XML parser; an identity pipeline gives back the input (up to new ids and file names)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from tests.annotations.conftest import load_json, run

# pycocotools 2.0 decodes through a numpy API that numpy 2 deprecates; nothing to act on here
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

ROTATE_FLIP = [{"HorizontalFlip": {"p": 0.5}}, {"Rotate": {"limit": 20, "p": 1.0}}]


def _add_crowd_rle(data: Path) -> None:
    """A crowd annotation in RLE (compressed) and one uncompressed, as COCO has for crowds."""
    path = data / "annotations/instances_train.json"
    coco = load_json(path)
    coffee = next(i for i in coco["images"] if i["file_name"] == "coffee.jpg")
    h, w = coffee["height"], coffee["width"]
    mask = np.zeros((h, w), np.uint8)
    mask[100:150, 30:90] = 1
    compressed = mask_utils.encode(np.asfortranarray(mask))
    flat = mask.flatten(order="F")
    runs = np.diff(np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])).tolist()
    coco["annotations"] += [
        {"id": 5000, "image_id": coffee["id"], "category_id": 3, "iscrowd": 1, "area": 3000.0,
         "bbox": [30.0, 100.0, 60.0, 50.0], "segmentation": {"size": [h, w], "counts": compressed["counts"].decode()}},
        {"id": 5001, "image_id": coffee["id"], "category_id": 5, "iscrowd": 1, "area": 3000.0,
         "bbox": [30.0, 100.0, 60.0, 50.0], "segmentation": {"size": [h, w], "counts": runs}},
    ]
    coco["custom_top_level"] = {"kept": [1, 2, 3]}
    path.write_text(json.dumps(coco))


@pytest.mark.parametrize("pipeline", [ROTATE_FLIP, [{"HorizontalFlip": {"p": 1.0}}]], ids=["rotate", "flip"])
def test_pycocotools_loads_every_written_coco_file_and_every_mask(tmp_path, coco_data, pipeline):
    _add_crowd_rle(coco_data)
    result, out, _ = run(tmp_path, coco_data, pipeline)
    assert result.exit_code == 0, result.errors
    for name in ("instances_train.json", "instances_val.json"):
        coco = COCO(str(out / "annotations" / name))
        for ann in coco.dataset["annotations"]:
            mask = coco.annToMask(ann)
            image = coco.imgs[ann["image_id"]]
            assert mask.shape == (image["height"], image["width"]) and mask.any()
        ids = [i["id"] for i in coco.dataset["images"]]
        assert len(ids) == len(set(ids))
        assert len({a["id"] for a in coco.dataset["annotations"]}) == len(coco.dataset["annotations"])
    written = load_json(out / "annotations/instances_train.json")
    source = load_json(coco_data / "annotations/instances_train.json")
    assert written["categories"] == source["categories"]
    assert [c["id"] for c in written["categories"]][:4] == [1, 3, 5, 7]
    assert written["info"] == source["info"] and written["licenses"] == source["licenses"]
    assert written["custom_top_level"] == {"kept": [1, 2, 3]}
    crowd = [a for a in written["annotations"] if a.get("iscrowd")]
    assert len(crowd) == 6 and sum(isinstance(a["segmentation"]["counts"], list) for a in crowd) == 3
    if pipeline[0]["HorizontalFlip"]["p"] == 1.0:
        coco = COCO(str(out / "annotations/instances_train.json"))
        by_name = {i["file_name"]: i["id"] for i in coco.dataset["images"]}
        original = next(a for a in coco.imgToAnns[by_name["coffee.jpg"]] if a["id"] == 5000)
        flipped = next(a for a in coco.imgToAnns[by_name["coffee__aug0.jpg"]] if a.get("iscrowd"))
        np.testing.assert_array_equal(coco.annToMask(flipped), np.fliplr(coco.annToMask(original)))
        assert flipped["area"] == 3000 and flipped["bbox"] == [256 - 90, 100, 60, 50]


def test_coco_identity_round_trip(tmp_path, coco_data):
    result, out, _ = run(tmp_path, coco_data, [], copies=1)
    assert result.exit_code == 0
    source = load_json(coco_data / "annotations/instances_train.json")
    written = load_json(out / "annotations/instances_train.json")
    originals = {i["file_name"]: i for i in written["images"] if "__aug" not in i["file_name"]}
    assert [originals[i["file_name"]] == i for i in source["images"]] == [True] * 3  # originals keep their ids
    new_ids = {i["id"]: i["file_name"].replace("__aug0", "") for i in written["images"] if "__aug" in i["file_name"]}
    old_ids = {i["id"]: i["file_name"] for i in source["images"]}
    assert set(new_ids).isdisjoint(old_ids)

    def strip(ann, names):
        return {k: v for k, v in ann.items() if k not in ("id", "image_id")} | {"image": names[ann["image_id"]]}

    copies = [strip(a, new_ids) for a in written["annotations"] if a["image_id"] in new_ids]
    assert sorted(copies, key=str) == sorted((strip(a, old_ids) for a in source["annotations"]), key=str)
    val = "annotations/instances_val.json"  # a split copied unchanged keeps its file byte for byte
    assert (out / val).read_bytes() == (coco_data / val).read_bytes()


def strict_ultralytics(path: Path, n_classes: int, kpt_shape: list[int] | None = None) -> int:
    """Check a label file the way Ultralytics' loader would reject it; return its object count."""
    count = 0
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split(" ")
        assert re.fullmatch(r"\d+", fields[0]) and int(fields[0]) < n_classes, f"{path}:{n}"
        values = fields[1:]
        if kpt_shape:
            k, d = kpt_shape
            assert len(values) == 4 + k * d, f"{path}:{n}: {len(values)} values"
            coords = values[:4] + [v for i, v in enumerate(values[4:]) if d == 2 or i % d != 2]
            assert all(v in ("0", "1", "2") for i, v in enumerate(values[4:]) if d == 3 and i % d == 2)
        else:
            assert len(values) == 4 or (len(values) >= 6 and len(values) % 2 == 0), f"{path}:{n}"
            coords = values
        for v in coords:
            assert re.fullmatch(r"[01]\.\d{6,}", v), f"{path}:{n}: {v!r} is not a 6-decimal value in [0, 1]"
            assert 0.0 <= float(v) <= 1.0
        count += 1
    return count


@pytest.mark.parametrize("name", ["yolo", "yolo_seg"])
def test_yolo_outputs_pass_a_strict_ultralytics_parser(tmp_path, name, request):
    data = request.getfixturevalue(f"{name}_data")
    result, out, rows = run(tmp_path, data, [*ROTATE_FLIP, {"RandomCrop": {"height": 150, "width": 200}}])
    assert result.exit_code == 0, result.errors
    names = yaml.safe_load((out / "data.yaml").read_text())["names"]
    assert (out / "data.yaml").read_bytes() == (data / "data.yaml").read_bytes()
    labels = sorted(out.glob("labels/*/*.txt"))
    assert len(labels) == 3 * 3 + 1  # train: original + 2 copies; val copied
    for path in labels:
        n = strict_ultralytics(path, len(names))
        rel = path.relative_to(out).as_posix()
        if "__aug" in rel:
            image_row = rows[rows[rel]["annotation_of"]]
            assert n == image_row["objects"]["kept"]


def test_yolo_pose_keypoints_swap_with_flip_idx(tmp_path, yolo_data):
    (yolo_data / "data.yaml").write_text(
        "path: .\ntrain: images/train\nval: images/val\nkpt_shape: [3, 3]\nflip_idx: [1, 0, 2]\nnames:\n  0: person\n")
    for label in (yolo_data / "labels").rglob("*.txt"):
        label.unlink()
    # the astronaut's left eye, right eye and nose (a 256x256 photo), and a hidden point on the coffee
    (yolo_data / "labels/train/astronaut.txt").write_text(
        "0 0.371094 0.515625 0.664062 0.968750 0.484375 0.199219 2 0.398438 0.199219 2 0.441406 0.246094 2\n")
    (yolo_data / "labels/train/coffee.txt").write_text(
        "0 0.500000 0.500000 0.400000 0.400000 0.500000 0.500000 1 0.000000 0.000000 0 0.600000 0.500000 2\n")
    result, out, rows = run(tmp_path, yolo_data, [{"HorizontalFlip": {"p": 1.0}}])
    assert result.exit_code == 0, result.errors
    for name in ("astronaut", "coffee"):
        source = np.loadtxt(yolo_data / f"labels/train/{name}.txt")
        copy = np.loadtxt(out / f"labels/train/{name}__aug0.txt")
        kp = source[5:].reshape(3, 3)
        mirrored = np.where(kp[:, 2:3] > 0, np.c_[1 - kp[:, 0], kp[:, 1], kp[:, 2]], 0)[[1, 0, 2]]
        np.testing.assert_allclose(copy[5:].reshape(3, 3), mirrored, atol=2e-6)
        strict_ultralytics(out / f"labels/train/{name}__aug0.txt", 1, [3, 3])
    assert rows["images/train/astronaut__aug0.jpg"]["objects"]["keypoints_swapped"] is True
    # the dataset root line points at the output (Ultralytics reads a relative one from its own folder)
    written = (out / "data.yaml").read_text()
    assert written == (yolo_data / "data.yaml").read_text().replace("path: .", f'path: "{out}"')
    assert yaml.safe_load(written)["flip_idx"] == [1, 0, 2] and rows["data.yaml"]["path_rewritten"] is True


def test_yolo_identity_round_trip_and_rounding_repaired_on_read(tmp_path, yolo_data):
    label = yolo_data / "labels/train/coffee.txt"
    lines = label.read_text().splitlines()
    lines.append("1 0.5 0.5 1.0000003 -5e-7")  # what some exporters write: repaired, counted
    label.write_text("\n".join(lines) + "\n")
    result, out, _ = run(tmp_path, yolo_data, [], copies=1)
    assert result.exit_code == 0 and result.counts()["annotation_values_repaired"] == 2
    for name in ("astronaut", "chelsea"):
        np.testing.assert_allclose(np.loadtxt(out / f"labels/train/{name}__aug0.txt"),
                                   np.loadtxt(yolo_data / f"labels/train/{name}.txt"), atol=2e-6)


def test_voc_xml_parses_keeps_unknown_fields_and_lists(tmp_path, voc_data):
    xml = voc_data / "Annotations/coffee.xml"
    xml.write_text(xml.read_text().replace("<segmented>0</segmented>",
                                           "<segmented>0</segmented>\n\t<owner><name>lab</name></owner>")
                   .replace("<difficult>0</difficult>", "<difficult>0</difficult><attributes><x>1</x></attributes>"))
    result, out, rows = run(tmp_path, voc_data, [{"HorizontalFlip": {"p": 1.0}}])
    assert result.exit_code == 0, result.errors
    tree = ET.parse(out / "Annotations/coffee__aug0.xml").getroot()
    assert tree.findtext("filename") == "coffee__aug0.jpg" and tree.findtext("owner/name") == "lab"
    assert [o.findtext("attributes/x") for o in tree.findall("object")] == ["1", "1"]
    source = ET.parse(xml).getroot()
    for before, after in zip(source.findall("object"), tree.findall("object"), strict=True):
        b = [int(before.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
        a = [int(after.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
        assert a == [256 - b[2] + 1, b[1], 256 - b[0] + 1, b[3]]  # 1-based inclusive pixels, mirrored
    assert (out / "ImageSets/Main/train.txt").read_text().split() == [
        "astronaut", "astronaut__aug0", "astronaut__aug1", "coffee", "coffee__aug0", "coffee__aug1",
        "chelsea", "chelsea__aug0", "chelsea__aug1"]
    assert (out / "ImageSets/Main/val.txt").read_text() == "rocket\n"  # val is copied, not augmented
    assert rows["ImageSets/Main/train.txt"]["aggregate"] is True


def test_voc_identity_round_trip(tmp_path, voc_data):
    result, out, _ = run(tmp_path, voc_data, [], copies=1)
    assert result.exit_code == 0
    for name in ("astronaut", "coffee", "chelsea"):
        copy = ET.parse(out / f"Annotations/{name}__aug0.xml").getroot()
        copy.find("filename").text = f"{name}.jpg"
        assert ET.tostring(copy) == ET.tostring(ET.parse(voc_data / f"Annotations/{name}.xml").getroot())


def test_voc_xml_in_the_encoding_its_declaration_names(tmp_path, voc_data):
    """An ISO-8859-1 file with its XML declaration is well-formed XML (it was refused as not UTF-8); the
    copy is UTF-8, with the same text."""
    xml = voc_data / "Annotations/coffee.xml"
    text = xml.read_text().replace("<owner>", "").replace("scikit-image data", "Caf\u00e9 cr\u00e8me")
    xml.write_bytes(('<?xml version="1.0" encoding="ISO-8859-1"?>\n' + text).encode("latin-1"))
    result, out, _ = run(tmp_path, voc_data, [], copies=1)
    assert result.exit_code == 0, result.errors
    copy = (out / "Annotations/coffee__aug0.xml").read_bytes()
    assert ET.fromstring(copy).findtext("source/database") == "Caf\u00e9 cr\u00e8me"
    assert "Caf\u00e9 cr\u00e8me".encode() in copy and b"ISO-8859-1" not in copy
    (voc_data / "Annotations/chelsea.xml").write_bytes(b"<annotation>caf\xe9</annotation>")  # not UTF-8, no declaration
    result, _, _ = run(tmp_path, voc_data, [], copies=1, out="o2")
    assert [(e["source"], e["reason"]) for e in result.errors] == [
        ("JPEGImages/chelsea.jpg", "Annotations/chelsea.xml:1: not well-formed XML (column 15)")]


def test_masks_identity_and_no_new_label_values(tmp_path, masks_data):
    result, out, _ = run(tmp_path, masks_data, [], copies=1)
    assert result.exit_code == 0
    for name in ("astronaut", "coffee", "chelsea"):
        assert np.array_equal(np.array(Image.open(out / f"masks/train/{name}__aug0.png")),
                              np.array(Image.open(masks_data / f"masks/train/{name}.png")))
    result, out, _ = run(tmp_path, masks_data, [{"Affine": {"scale": [0.6, 1.4], "rotate": [-40, 40], "p": 1}},
                                                {"ElasticTransform": {"alpha": 50, "sigma": 5, "p": 1}}], out="o2")
    for name in ("astronaut", "coffee", "chelsea"):
        values = set(np.unique(np.array(Image.open(masks_data / f"masks/train/{name}.png"))))
        for k in range(2):
            copy = np.array(Image.open(out / f"masks/train/{name}__aug{k}.png"))
            assert set(np.unique(copy)) <= values | {0}


def test_voc_objects_cut_by_the_border_are_marked_truncated(tmp_path, voc_data):
    result, out, rows = run(tmp_path, voc_data, [{"RandomCrop": {"height": 120, "width": 150, "p": 1.0}}])
    assert result.exit_code == 0
    marked = 0
    for name in ("astronaut", "coffee", "chelsea"):
        for k in range(2):
            record = rows[f"JPEGImages/{name}__aug{k}.jpg"]["objects"]
            objects = ET.parse(out / f"Annotations/{name}__aug{k}.xml").getroot().findall("object")
            assert len(objects) == record["kept"]
            source = ET.parse(voc_data / f"Annotations/{name}.xml").getroot().findall("object")
            kept_ids = [i for i in range(len(source)) if i not in record["dropped"]]
            for i, element in zip(kept_ids, objects, strict=True):
                if i in record["clipped"]:
                    assert element.findtext("truncated") == "1"
                    marked += 1
    assert marked
