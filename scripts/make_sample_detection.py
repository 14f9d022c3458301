"""Regenerate sample_data/detection/ from scikit-image's photographs, with hand-drawn objects.

    pip install -e '.[samples]' && python scripts/make_sample_detection.py

Four photos (astronaut, coffee, chelsea: train; rocket: val) scaled to 256 pixels wide, with
polygons traced by hand around what they show (checked by drawing them on the photos), written
in each layout augcli reads back:

    coco/         images/{train,val}/*.jpg, annotations/instances_{train,val}.json
                  (polygons, boxes, the astronaut's 17 COCO person keypoints; category ids 1, 3, 7, ...)
    yolo/         images/, labels/ (detect: class cx cy w h), data.yaml
    yolo_seg/     images/, labels/ (segment: class x1 y1 ... xn yn), data.yaml
    voc/          JPEGImages/, Annotations/*.xml, ImageSets/Main/{train,val}.txt
    masks/        images/, masks/ (palette PNGs, value = category id)
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import skimage.data
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent / "sample_data" / "detection"
WIDTH = 256
CATEGORIES = [  # non-contiguous ids, as real COCO files have
    {"id": 1, "name": "person", "supercategory": "person",
     "keypoints": ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                   "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
                   "left_knee", "right_knee", "left_ankle", "right_ankle"],
     "skeleton": [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
                  [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]},
    {"id": 3, "name": "cup", "supercategory": "kitchen"},
    {"id": 5, "name": "saucer", "supercategory": "kitchen"},
    {"id": 7, "name": "cat", "supercategory": "animal"},
    {"id": 8, "name": "eye", "supercategory": "animal"},
    {"id": 9, "name": "rocket", "supercategory": "vehicle"},
    {"id": 11, "name": "helmet", "supercategory": "accessory"},
    {"id": 13, "name": "flag", "supercategory": "outdoor"},
    {"id": 14, "name": "tower", "supercategory": "outdoor"},
]
# Polygons in pixels of the 256-wide photo, traced on a 10-pixel grid (see the module docstring).
PHOTOS = {
    "astronaut": ("train", [
        ("person", [(77, 30), (90, 12), (110, 8), (132, 12), (148, 33), (146, 70), (147, 97), (170, 123),
                    (180, 150), (180, 175), (160, 200), (150, 256), (15, 256), (10, 167), (20, 150), (50, 110),
                    (60, 93), (80, 75)]),
        ("rocket", [(205, 2), (215, 5), (219, 30), (222, 90), (230, 110), (228, 140), (180, 140), (178, 110),
                    (190, 60), (196, 15)]),
        ("helmet", [(143, 256), (146, 225), (160, 195), (187, 172), (215, 172), (240, 190), (252, 215),
                    (256, 256)]),
        ("flag", [(0, 0), (28, 0), (32, 40), (40, 80), (48, 110), (50, 140), (42, 165), (15, 170), (0, 160)]),
    ]),
    "coffee": ("train", [
        ("cup", [(75, 35), (80, 18), (100, 9), (125, 8), (150, 10), (170, 20), (176, 38), (170, 70), (163, 95),
                 (150, 115), (130, 122), (110, 118), (100, 125), (90, 128), (84, 120), (86, 105), (95, 100),
                 (85, 85), (78, 60)]),
        ("saucer", [(33, 105), (38, 75), (55, 52), (75, 40), (175, 40), (195, 60), (205, 85), (200, 115),
                    (185, 140), (160, 158), (125, 166), (90, 163), (60, 150), (42, 130)]),
    ]),
    "chelsea": ("train", [
        ("cat", [(20, 0), (205, 0), (215, 30), (205, 90), (200, 140), (185, 170), (20, 170), (10, 120), (15, 50)]),
        ("eye", [(77, 65), (83, 54), (97, 49), (110, 51), (118, 60), (120, 72), (112, 81), (97, 82), (84, 77)]),
        ("eye", [(166, 77), (170, 66), (180, 61), (192, 64), (195, 75), (190, 88), (178, 92), (169, 87)]),
    ]),
    "rocket": ("val", [
        ("rocket", [(128, 52), (131, 50), (134, 52), (137, 60), (137, 80), (138, 150), (140, 163), (120, 163),
                    (122, 150), (124, 80), (124, 60)]),
        ("tower", [(74, 50), (80, 50), (83, 150), (70, 150)]),
        ("tower", [(176, 48), (181, 48), (186, 153), (173, 153)]),
    ]),
}
# The astronaut's COCO keypoints (x, y, v): v 2 visible, 1 labelled but hidden (ears under hair), 0 absent.
ASTRONAUT_KEYPOINTS = [(113, 63, 2), (124, 51, 2), (102, 51, 2), (136, 58, 1), (92, 58, 1), (170, 135, 2),
                       (52, 120, 2)] + [(0, 0, 0)] * 10
LICENSES = [{"id": 1, "name": "Public domain (NASA) / CC0 (scikit-image data)", "url": "https://scikit-image.org"}]
PALETTE = {0: (0, 0, 0), 1: (220, 20, 60), 3: (0, 128, 255), 5: (255, 200, 0), 7: (0, 200, 80), 8: (255, 255, 255),
           9: (200, 0, 200), 11: (90, 90, 90), 13: (0, 60, 160), 14: (150, 100, 50)}


def photo(name: str) -> np.ndarray:
    image = getattr(skimage.data, name)()
    h, w = image.shape[:2]
    height = round(h * WIDTH / w)
    return cv2.cvtColor(cv2.resize(image, (WIDTH, height), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR)


def category_id(name: str) -> int:
    return next(c["id"] for c in CATEGORIES if c["name"] == name)


def box(points) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def polygon_area(points, height: int, width: int) -> float:
    """COCO's area: the pixels of the rasterised polygon (pycocotools, as the COCO API computes it)."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.frPyObjects([[float(v) for p in points for v in p]], height, width)
    return float(mask_utils.area(mask_utils.merge(rle)))


def write_jpeg(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 85])


def coco(images: dict[str, np.ndarray]) -> None:
    base = ROOT / "coco"
    for split in ("train", "val"):
        data = {"info": {"description": "augcli sample detection set (scikit-image photos)", "version": "1.0",
                         "year": 2026}, "licenses": LICENSES, "images": [], "annotations": [],
                "categories": CATEGORIES}
        for name, (where, objects) in PHOTOS.items():
            if where != split:
                continue
            image = images[name]
            write_jpeg(base / "images" / split / f"{name}.jpg", image)
            image_id = 100 + list(PHOTOS).index(name)
            data["images"].append({"id": image_id, "file_name": f"{name}.jpg", "width": image.shape[1],
                                   "height": image.shape[0], "license": 1})
            for label, points in objects:
                x, y, w, h = box(points)
                x1, y1 = min(x + w, image.shape[1]), min(y + h, image.shape[0])
                ann = {"id": 1000 + len(data["annotations"]) + (0 if split == "train" else 500), "image_id": image_id,
                       "category_id": category_id(label),
                       "segmentation": [[float(v) for p in points for v in p]],
                       "area": polygon_area(points, *image.shape[:2]),
                       "bbox": [float(x), float(y), float(x1 - x), float(y1 - y)], "iscrowd": 0}
                if name == "astronaut" and label == "person":
                    ann["keypoints"] = [v for kp in ASTRONAUT_KEYPOINTS for v in kp]
                    ann["num_keypoints"] = sum(1 for kp in ASTRONAUT_KEYPOINTS if kp[2] > 0)
                data["annotations"].append(ann)
        path = base / "annotations" / f"instances_{split}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1) + "\n")


def yolo(images: dict[str, np.ndarray], segment: bool) -> None:
    base = ROOT / ("yolo_seg" if segment else "yolo")
    names = {i: c["name"] for i, c in enumerate(CATEGORIES)}
    index = {c["name"]: i for i, c in enumerate(CATEGORIES)}
    for name, (split, objects) in PHOTOS.items():
        image = images[name]
        h, w = image.shape[:2]
        write_jpeg(base / "images" / split / f"{name}.jpg", image)
        lines = []
        for label, points in objects:
            pts = [(min(max(x, 0), w), min(max(y, 0), h)) for x, y in points]
            if segment:
                coords = " ".join(f"{x / w:.6f} {y / h:.6f}" for x, y in pts)
                lines.append(f"{index[label]} {coords}")
            else:
                x, y, bw, bh = box(pts)
                lines.append(f"{index[label]} {(x + bw / 2) / w:.6f} {(y + bh / 2) / h:.6f} {bw / w:.6f} {bh / h:.6f}")
        label_file = base / "labels" / split / f"{name}.txt"
        label_file.parent.mkdir(parents=True, exist_ok=True)
        label_file.write_text("\n".join(lines) + "\n")
    names_yaml = "".join(f"  {i}: {n}\n" for i, n in names.items())
    (base / "data.yaml").write_text(f"# augcli sample {'segmentation' if segment else 'detection'} set\n"
                                    f"train: images/train\nval: images/val\nnames:\n{names_yaml}")


def voc(images: dict[str, np.ndarray]) -> None:
    base = ROOT / "voc"
    splits: dict[str, list[str]] = {"train": [], "val": []}
    for name, (split, objects) in PHOTOS.items():
        image = images[name]
        h, w = image.shape[:2]
        write_jpeg(base / "JPEGImages" / f"{name}.jpg", image)
        splits[split].append(name)
        xml = ["<annotation>", "\t<folder>JPEGImages</folder>", f"\t<filename>{name}.jpg</filename>",
               "\t<source>", "\t\t<database>scikit-image data</database>", "\t</source>",
               "\t<size>", f"\t\t<width>{w}</width>", f"\t\t<height>{h}</height>", "\t\t<depth>3</depth>",
               "\t</size>", "\t<segmented>0</segmented>"]
        for label, points in objects:
            x, y, bw, bh = box(points)
            x1, y1 = min(x + bw, w), min(y + bh, h)
            xml += ["\t<object>", f"\t\t<name>{label}</name>", "\t\t<pose>Unspecified</pose>",
                    f"\t\t<truncated>{int(x <= 0 or y <= 0 or x1 >= w or y1 >= h)}</truncated>",
                    "\t\t<difficult>0</difficult>", "\t\t<bndbox>",
                    f"\t\t\t<xmin>{int(x) + 1}</xmin>", f"\t\t\t<ymin>{int(y) + 1}</ymin>",
                    f"\t\t\t<xmax>{int(x1)}</xmax>", f"\t\t\t<ymax>{int(y1)}</ymax>", "\t\t</bndbox>", "\t</object>"]
        xml.append("</annotation>")
        path = base / "Annotations" / f"{name}.xml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(xml) + "\n")
    (base / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    for split, stems in splits.items():
        (base / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(s + "\n" for s in stems))


def masks(images: dict[str, np.ndarray]) -> None:
    base = ROOT / "masks"
    flat_palette = [0] * 768
    for value, rgb in PALETTE.items():
        flat_palette[3 * value: 3 * value + 3] = rgb
    for name, (split, objects) in PHOTOS.items():
        image = images[name]
        write_jpeg(base / "images" / split / f"{name}.jpg", image)
        mask = np.zeros(image.shape[:2], np.uint8)
        for label, points in objects:  # later objects (eyes on the cat) paint over earlier ones
            cv2.fillPoly(mask, [np.round(np.array(points, np.float64) * 8).astype(np.int32)],
                         category_id(label), lineType=cv2.LINE_8, shift=3)
        out = Image.frombytes("P", (mask.shape[1], mask.shape[0]), mask.tobytes())
        out.putpalette(flat_palette)
        path = base / "masks" / split / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        out.save(path, optimize=True)


def check(images: dict[str, np.ndarray], out: Path) -> None:
    """Draw every polygon and box on its photo: the picture a person checks the objects on."""
    tiles = []
    for name, (_, objects) in PHOTOS.items():
        canvas = cv2.resize(images[name], None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        for label, points in objects:
            pts = (np.array(points, np.float64) * 2).astype(np.int32)
            cv2.polylines(canvas, [pts], True, (0, 255, 0), 1)
            x, y, w, h = (2 * v for v in box(points))
            cv2.rectangle(canvas, (int(x), int(y)), (int(x + w), int(y + h)), (0, 255, 255), 1)
            cv2.putText(canvas, label, (int(x) + 2, int(y) + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 255), 1)
        if name == "astronaut":
            for x, y, v in ASTRONAUT_KEYPOINTS:
                if v:
                    cv2.circle(canvas, (2 * x, 2 * y), 3, (0, 0, 255) if v == 2 else (255, 0, 0), -1)
        tiles.append(cv2.copyMakeBorder(canvas, 0, 512 - canvas.shape[0], 0, 0, cv2.BORDER_CONSTANT))
    cv2.imwrite(str(out), np.hstack(tiles))


def main() -> None:
    images = {name: photo(name) for name in PHOTOS}
    if len(sys.argv) > 1 and sys.argv[1] == "--check":
        check(images, Path(sys.argv[2] if len(sys.argv) > 2 else "detection_check.png"))
        return
    if ROOT.exists():
        shutil.rmtree(ROOT)
    coco(images)
    yolo(images, segment=False)
    yolo(images, segment=True)
    voc(images)
    masks(images)
    print(f"wrote {ROOT}")


if __name__ == "__main__":
    main()
