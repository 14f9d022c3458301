"""Regenerate the images of sample_data/ from scikit-image's bundled photographs.

    pip install -e '.[samples]' && python scripts/make_sample_data.py

An ImageFolder with train/ and val/ splits: four classes cut from real photos at seeded
positions, colour classes as JPEG and a grayscale texture class as PNG, so the
quickstart exercises both codecs and both colour modes.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import skimage.data

ROOT = Path(__file__).resolve().parent.parent / "sample_data"
CELL = 192
CLASSES = {  # label -> (photographs to cut from, file suffix)
    "cat": (["chelsea"], ".jpg"),
    "coffee": (["coffee"], ".jpg"),
    "rocket": (["rocket"], ".jpg"),
    "texture": (["brick", "grass", "gravel"], ".png"),
}
PER_SPLIT = {"train": 4, "val": 2}


def crop(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = photo.shape[:2]
    side = int(rng.integers(int(min(h, w) * 0.55), min(h, w) + 1))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    return cv2.resize(photo[y : y + side, x : x + side], (CELL, CELL), interpolation=cv2.INTER_AREA)


def main() -> None:
    rng = np.random.default_rng(20261124)
    for label, (names, suffix) in CLASSES.items():
        photos = [getattr(skimage.data, n)() for n in names]
        index = 0
        for split, count in PER_SPLIT.items():
            folder = ROOT / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for _ in range(count):
                image = crop(photos[index % len(photos)], rng)
                if image.ndim == 3:
                    image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
                params = [cv2.IMWRITE_JPEG_QUALITY, 90] if suffix == ".jpg" else []
                cv2.imwrite(str(folder / f"{label}_{index:03d}{suffix}"), image, params)
                index += 1
    print(f"wrote the images under {ROOT}")


if __name__ == "__main__":
    main()
