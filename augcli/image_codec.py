"""Image bytes <-> pixels: decode keeping what the file is, encode for a suffix, and a display copy
for previews. A leaf: the image modality, mixing and the annotation worker share it."""

from __future__ import annotations

import cv2
import numpy as np

from augcli.errors import ItemError
from augcli.io import check_pixels, image_header_size

JPEG_MAGIC = b"\xff\xd8\xff"
_CAN_HOLD_16BIT = {".png", ".tif", ".tiff"}


_CAN_HOLD_ALPHA = {".png", ".tif", ".tiff", ".webp", ".bmp"}
DEFAULT_LOSSY_QUALITY = 95


def decode(data: bytes, max_pixels: int | None = None) -> np.ndarray:
    """Decode image bytes keeping what the file is; colour channels come back in RGB(A) order.

    Grayscale stays 2-D, alpha is kept, 16-bit stays uint16. JPEGs (which have no alpha) are
    decoded with the flags that make OpenCV apply their EXIF orientation. An image of more than
    ``max_pixels`` (``image.max_pixels``) is refused from its header, before any pixel is decoded.
    """
    if not data:
        raise ItemError("file is empty (0 bytes)")
    size = image_header_size(data) if max_pixels is not None else None
    if size is not None:
        check_pixels(size, max_pixels, len(data))
    flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH if data.startswith(JPEG_MAGIC) else cv2.IMREAD_UNCHANGED
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    if image is None:
        raise ItemError("cannot decode the file as an image: it is corrupt or not in a format OpenCV reads; "
                        "fix it, remove it or exclude it")
    if max_pixels is not None and size is None:  # a format PIL cannot read the header of: checked decoded
        check_pixels((image.shape[1], image.shape[0]), max_pixels, len(data))
    return _swap_red_blue(image)


def _swap_red_blue(image: np.ndarray) -> np.ndarray:
    """BGR(A) <-> RGB(A); albumentations' colour transforms expect RGB, OpenCV's codecs BGR."""
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return image


def encode(image: np.ndarray, suffix: str, quality: int | None) -> bytes:
    """Encode an RGB(A) image for a file ending in ``suffix``, converting what the format can't hold."""
    suffix = suffix.lower()
    if image.dtype == np.uint16 and suffix not in _CAN_HOLD_16BIT:
        image = np.rint(image / 257.0).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 4 and suffix not in _CAN_HOLD_ALPHA:
        image = image[:, :, :3]
    params: list[int] = []
    if suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, quality or DEFAULT_LOSSY_QUALITY]
    elif suffix == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, quality or DEFAULT_LOSSY_QUALITY]
    ok, buffer = cv2.imencode(suffix, _swap_red_blue(np.ascontiguousarray(image)), params)
    if not ok:
        raise ItemError(f"OpenCV could not encode a {image.dtype} image of shape {image.shape} as {suffix}")
    return buffer.tobytes()


def to_display(image: np.ndarray) -> np.ndarray:
    """Any decoded image (RGB(A)/gray, 8/16-bit) as BGR uint8; alpha over a checkerboard."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image * 255.0, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        h, w = image.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w]
        board = np.where(((yy // 8 + xx // 8) % 2)[..., None] == 0, 200, 150).astype(np.float32)
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        image = (image[:, :, :3] * alpha + board * (1 - alpha)).astype(np.uint8)
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
