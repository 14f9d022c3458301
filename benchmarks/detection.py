"""Is `augcli run` on a COCO detection set faster than the script a user would write? Whole commands.

    python benchmarks/detection.py [--images 600] [--repeats 5] [--quick]

Input: a COCO set of real photos with hand-traced objects (sample_data/detection/coco's three
training photos, each repeated under new names: astronaut with 4 objects and 17 keypoints,
coffee with 2, chelsea with 3; polygons, boxes), 256 px wide. Pipeline: HorizontalFlip(0.5),
Affine(rotate +-15, scale 0.9-1.1, p 0.7), RandomBrightnessContrast(0.5); 2 copies per image.
Contenders, each a whole command in a fresh process, start-up included, taking turns:
  plain loop   this file with --plain: the loop a user writes with albumentations and pycocotools:
               json.load, joblib.Parallel(n_jobs=-1) over chunks of images, cv2.imread once per
               image, A.Compose with BboxParams and KeypointParams (polygon vertices as
               keypoints), cv2.imwrite, areas with pycocotools, one JSON written at the end
  augcli run   `augcli run CONFIG --quiet` (workers: auto; keep_originals off)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent / "sample_data" / "detection" / "coco"
STEPS = [{"HorizontalFlip": {"p": 0.5}},
         {"Affine": {"rotate": [-15, 15], "scale": [0.9, 1.1], "p": 0.7}},
         {"RandomBrightnessContrast": {"p": 0.5}}]
COPIES = 2


def make_inputs(root: Path, n: int) -> Path:
    data = root / f"coco-{n}"
    if (data / "DONE").is_file():
        return data
    shutil.rmtree(data, ignore_errors=True)
    source = json.loads((SAMPLE / "annotations/instances_train.json").read_text())
    out = {**source, "images": [], "annotations": []}
    (data / "images/train").mkdir(parents=True)
    next_ann = 1
    for i in range(n):
        entry = dict(source["images"][i % len(source["images"])])
        name = f"img_{i:05d}.jpg"
        shutil.copyfile(SAMPLE / "images/train" / entry["file_name"], data / "images/train" / name)
        anns = [a for a in source["annotations"] if a["image_id"] == entry["id"]]
        entry.update({"id": i + 1, "file_name": name})
        out["images"].append(entry)
        for a in anns:
            out["annotations"].append({**a, "id": next_ann, "image_id": i + 1})
            next_ann += 1
    (data / "annotations").mkdir()
    (data / "annotations/instances_train.json").write_text(json.dumps(out))
    (data / "DONE").write_text("")
    return data


# ---- the plain loop ---------------------------------------------------------------------

def _plain_chunk(chunk, data: str, out: str):
    import os

    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import albumentations as A
    import cv2
    import numpy as np
    from pycocotools import mask as mask_utils

    cv2.setNumThreads(0)
    pipeline = A.Compose([A.HorizontalFlip(p=0.5), A.Affine(rotate=(-15, 15), scale=(0.9, 1.1), p=0.7),
                          A.RandomBrightnessContrast(p=0.5)],
                         bbox_params=A.BboxParams("coco", label_fields=["ids"], clip=True),
                         keypoint_params=A.KeypointParams("xy", label_fields=["kp_ids"], remove_invisible=False))
    results = []
    for entry, anns, seeds in chunk:
        image = cv2.cvtColor(cv2.imread(os.path.join(data, "images/train", entry["file_name"])), cv2.COLOR_BGR2RGB)
        points, kp_ids = [], []
        for j, a in enumerate(anns):
            for poly in a["segmentation"]:
                for k in range(0, len(poly), 2):
                    points.append((poly[k] - 0.5, poly[k + 1] - 0.5))
                    kp_ids.append(j)
        for copy, seed in enumerate(seeds):
            pipeline.set_random_seed(seed)
            r = pipeline(image=image, bboxes=[a["bbox"] for a in anns], ids=list(range(len(anns))),
                         keypoints=points, kp_ids=kp_ids)
            h, w = r["image"].shape[:2]
            name = entry["file_name"].replace(".jpg", f"__aug{copy}.jpg")
            cv2.imwrite(os.path.join(out, "images/train", name), cv2.cvtColor(r["image"], cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            kept = {int(i) for i in r["ids"]}
            moved = np.asarray(r["keypoints"])[:, :2] + 0.5
            new_anns = []
            for j, a in enumerate(anns):
                if j not in kept:
                    continue
                poly = np.clip(moved[np.asarray(r["kp_ids"]) == j], 0, [w, h]).flatten().tolist()
                rle = mask_utils.frPyObjects([poly], h, w)
                x0, y0, x1, y1 = min(poly[0::2]), min(poly[1::2]), max(poly[0::2]), max(poly[1::2])
                new_anns.append({**a, "segmentation": [poly], "bbox": [x0, y0, x1 - x0, y1 - y0],
                                 "area": float(mask_utils.area(mask_utils.merge(rle)))})
            results.append(({**entry, "file_name": name, "width": w, "height": h}, new_anns))
    return results


def plain(data: Path, out: Path) -> None:
    from joblib import Parallel, delayed

    coco = json.loads((data / "annotations/instances_train.json").read_text())
    by_image: dict[int, list] = {}
    for a in coco["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    (out / "images/train").mkdir(parents=True, exist_ok=True)
    work = [(e, by_image.get(e["id"], []), [hash((e["file_name"], k)) % 2**32 for k in range(COPIES)])
            for e in coco["images"]]
    chunks = [work[i : i + 16] for i in range(0, len(work), 16)]
    images, annotations = [], []
    for results in Parallel(n_jobs=-1)(delayed(_plain_chunk)(c, str(data), str(out)) for c in chunks):
        for entry, anns in results:
            entry["id"] = len(images) + 1
            images.append(entry)
            for a in anns:
                annotations.append({**a, "id": len(annotations) + 1, "image_id": entry["id"]})
    (out / "annotations").mkdir(exist_ok=True)
    (out / "annotations/instances_train.json").write_text(json.dumps({**coco, "images": images,
                                                                      "annotations": annotations}))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--plain":
        plain(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    import harness

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=600)
    harness.add_common_args(parser)
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    scratch = harness.scratch_folder(args.scratch, "detection")
    data = make_inputs(scratch, args.images)
    out_plain, out_augcli = scratch / "out-plain", scratch / "out-augcli"
    config = scratch / "detection.yaml"
    config.write_text(yaml.safe_dump({"input": str(data), "output": str(out_augcli), "seed": 0, "copies": COPIES,
                                      "keep_originals": False,
                                      "image": {"annotations": {"format": "coco"}, "pipeline": STEPS}}))
    print(f"{args.images} COCO images (256 px, real photos, 3 objects each on average), {COPIES} copies, "
          f"{harness.cores()} cores, {repeats} rounds, scratch {scratch}")
    contenders = [
        harness.Contender("plain loop", [sys.executable, str(Path(__file__).resolve()), "--plain", str(data),
                                         str(out_plain)], [out_plain]),
        harness.Contender("augcli run", harness.augcli_cmd("run", str(config), "--quiet"), [out_augcli]),
    ]
    times = harness.alternate(contenders, repeats)
    outputs = args.images * COPIES
    figures = [harness.report(f"COCO detection: {args.images} images x {COPIES} copies = {outputs} outputs",
                              times, {"plain loop": outputs, "augcli run": outputs}, "outputs",
                              [("augcli run", "plain loop", ">= 1.0")])]
    harness.save(args.json, figures)


if __name__ == "__main__":
    main()
