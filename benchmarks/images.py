"""Is `augcli run` faster than the image script a user would write? Whole commands, alternating.

    pip install -e '.[samples]'        # scikit-image: the photos the inputs are cut from
    python benchmarks/images.py [--sizes small,large,copies] [--repeats 5] [--quick]

Sizes (inputs cut reproducibly from scikit-image's bundled photos, JPEG quality 90):
  small    600 JPEGs of 512x512, HorizontalFlip + Rotate(15) + RandomBrightnessContrast, 1 copy
  large    20,000 JPEGs of 128x128, HorizontalFlip + RandomBrightnessContrast, 1 copy
  copies   the small set, 4 copies per source
Contenders, each a whole command in a fresh process, start-up included, taking turns:
  plain loop   benchmarks/baselines/image_loop.py: cv2.imread -> A.Compose -> cv2.imwrite in
               joblib.Parallel(n_jobs=-1), each source decoded once for all its copies
  augcli run   `augcli run CONFIG --quiet` with the default `workers: auto`, keep_originals off
  augcli verify  `augcli verify OUTPUT` of the run just made (timed right after each run)
Before timing, a same-work check runs both on the first 48 sources with augcli's per-output
seeds and compares every output byte for byte (same pipeline, same codec settings); an output
no step changed is the source's own bytes in augcli's output and must be the source's pixels
re-encoded in the script's.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import harness
import yaml

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina"]
STEPS = {
    "flip-rotate-brightness": [{"HorizontalFlip": {"p": 0.5}}, {"Rotate": {"limit": 15, "p": 0.5}},
                               {"RandomBrightnessContrast": {"p": 0.5}}],
    "flip-brightness": [{"HorizontalFlip": {"p": 0.5}}, {"RandomBrightnessContrast": {"p": 0.5}}],
}
SIZES = {  # name -> (images, side, steps, copies)
    "small": (600, 512, "flip-rotate-brightness", 1),
    "large": (20_000, 128, "flip-brightness", 1),
    "copies": (600, 512, "flip-rotate-brightness", 4),
}


def make_inputs(root: Path, n: int, side: int) -> Path:
    """N JPEGs cut from scikit-image's photos; the same files every time (made once, then reused)."""
    import cv2
    import numpy as np

    try:
        import skimage.data
    except ImportError:
        raise SystemExit("benchmarks/images.py cuts its inputs from scikit-image's photos: "
                         "pip install -e '.[samples]' first") from None

    data = root / f"images-{n}x{side}"
    if (data / "DONE").is_file():
        return data
    shutil.rmtree(data, ignore_errors=True)
    rng = np.random.default_rng(0)
    photos = [getattr(skimage.data, name)() for name in PHOTOS]
    for i in range(n):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        crop = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
        y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
        tile = cv2.resize(photo[y : y + crop, x : x + crop], (side, side), interpolation=cv2.INTER_AREA)
        path = data / "train" / f"class_{i % 10}" / f"img_{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(tile, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    (data / "DONE").write_text("")
    return data


def write_config(path: Path, data: Path, out: Path, steps: str, copies: int) -> Path:
    path.write_text(yaml.safe_dump({"input": str(data), "output": str(out), "seed": 0, "copies": copies,
                                    "keep_originals": False, "image": {"pipeline": STEPS[steps]}}))
    return path


def check_same_work(scratch: Path, data: Path, steps: str, copies: int) -> None:
    """Both on the first 48 sources, with augcli's seeds: every output must be the same bytes."""
    import subprocess

    subset, plain, ours = scratch / "check-data", scratch / "check-plain", scratch / "check-augcli"
    for folder in (subset, plain, ours):
        shutil.rmtree(folder, ignore_errors=True)
    for source in sorted(data.rglob("*.jpg"))[:48]:
        (subset / source.relative_to(data)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, subset / source.relative_to(data))
    subprocess.run(harness.baseline_cmd("image_loop.py", str(subset), str(plain), "--copies", str(copies),
                                        "--steps", steps, "--seeds", "augcli"), check=True)
    config = write_config(scratch / "check.yaml", subset, ours, steps, copies)
    subprocess.run(harness.augcli_cmd("run", str(config), "--quiet"), check=True)
    written = sorted(p.relative_to(plain) for p in plain.rglob("*.jpg"))
    theirs = sorted(p.relative_to(ours) for p in ours.rglob("*.jpg"))
    assert written == theirs and len(written) == 48 * copies, "the two write different files"
    import cv2

    unchanged = 0
    for p in written:
        source = subset / p.parent / (p.name.rsplit("__aug", 1)[0] + ".jpg")
        if (ours / p).read_bytes() == source.read_bytes():
            # no step applied: augcli places the source's bytes, the script re-encodes its pixels
            unchanged += 1
            assert (plain / p).read_bytes() == cv2.imencode(".jpg", cv2.imread(str(source)))[1].tobytes(), p
        else:
            assert (plain / p).read_bytes() == (ours / p).read_bytes(), f"{p} differs"
    print(f"  same work: {len(written) - unchanged} outputs byte-identical, {unchanged} that no step changed are "
          "the source's bytes in augcli's output and its re-encoded pixels in the script's")
    for folder in (subset, plain, ours):
        shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="small,large,copies", help=f"comma-separated: {', '.join(SIZES)}")
    parser.add_argument("--no-verify", action="store_true", help="do not time `augcli verify`")
    harness.add_common_args(parser)
    args = parser.parse_args()
    sizes = ["small"] if args.quick else args.sizes.split(",")
    repeats = 3 if args.quick else args.repeats
    scratch = harness.scratch_folder(args.scratch, "images")
    figures = []
    for size in sizes:
        n, side, steps, copies = SIZES[size]
        print(f"{size}: {n} JPEGs {side}x{side}, {steps}, {copies} cop{'y' if copies == 1 else 'ies'}, "
              f"{harness.cores()} cores, {repeats} rounds, scratch {scratch}")
        data = make_inputs(scratch, n, side)
        check_same_work(scratch, data, steps, copies)
        out_plain, out_augcli = scratch / "out-plain", scratch / "out-augcli"
        config = write_config(scratch / f"{size}.yaml", data, out_augcli, steps, copies)
        contenders = [
            harness.Contender("plain loop", harness.baseline_cmd("image_loop.py", str(data), str(out_plain),
                                                                 "--copies", str(copies), "--steps", steps),
                              [out_plain]),
            harness.Contender("augcli run", harness.augcli_cmd("run", str(config), "--quiet"), [out_augcli]),
        ]
        after = None if args.no_verify else {
            "augcli run": harness.Contender("augcli verify", harness.augcli_cmd("verify", str(out_augcli)))}
        times = harness.alternate(contenders, repeats, after)
        pairs = [("augcli run", "plain loop", ">= 1.0")]
        if after:
            pairs.append(("augcli verify", "augcli run", ">= 1.0 (verify no slower than the run)"))
        outputs = n * copies
        figures.append(harness.report(f"{size}: {n} x {side}px, {copies} copies, {outputs} outputs", times,
                                      {"plain loop": outputs, "augcli run": outputs, "augcli verify": outputs},
                                      "outputs", pairs))
        for folder in (out_plain, out_augcli):
            shutil.rmtree(folder, ignore_errors=True)
    harness.save(args.json, figures)


if __name__ == "__main__":
    main()
