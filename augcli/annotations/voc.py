"""Pascal VOC: ``JPEGImages/x.jpg`` with ``Annotations/x.xml`` and ``ImageSets/*/*.txt`` lists.

VOC boxes are 1-based inclusive pixel indices: ``xmin = 1`` is the first pixel, so the
continuous box is ``[xmin - 1, xmax]``. Every XML field other than the boxes, size and
filename is written back untouched; objects that leave the image are removed.
"""

from __future__ import annotations

import math
import posixpath
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from augcli.annotations.layout import SPLIT_NAMES, Layout, beside, under
from augcli.annotations.model import Annotations, Obj
from augcli.errors import cannot_read


def xml_path(image_relpath: str) -> str | None:
    """``JPEGImages/x.jpg`` -> ``Annotations/x.xml``."""
    return beside(image_relpath, "JPEGImages", "Annotations", ".xml")


def read(root: Path, relpaths: list[str], section: Any) -> Layout | None:
    present = set(relpaths)
    images = [r for r in relpaths if xml_path(r) is not None]
    xmls = [r for r in relpaths if under(r, "Annotations") and r.lower().endswith(".xml")]
    if not images or not xmls:
        return None
    layout = Layout()
    layout.owned |= set(xmls)
    lists = [r for r in relpaths if under(r, "ImageSets") and r.lower().endswith(".txt")]
    layout.owned |= set(lists)
    members: dict[str, dict[str, str]] = {}  # stem -> {list file: rest of its line}
    for rel in lists:
        try:
            text = (root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            layout.errors.append({"source": rel, "kind": "annotation file", "reason": cannot_read("it", exc)})
            continue
        for line in text.splitlines():
            if line.strip():
                stem, _, rest = line.strip().partition(" ")
                members.setdefault(stem, {})[rel] = rest
    for relpath in images:
        layout.images.add(relpath)
        xp = xml_path(relpath)
        stem = posixpath.splitext(posixpath.basename(relpath))[0]
        meta: dict[str, Any] = {"lists": members.get(stem, {})}
        for listing in meta["lists"]:  # ImageSets/Main/val.txt puts the image in the val split
            name = posixpath.splitext(posixpath.basename(listing))[0]
            if listing.split("/")[-2:-1] == ["Main"] and name in SPLIT_NAMES:
                layout.splits[relpath] = name
        if xp not in present:
            layout.annotations[relpath] = Annotations("voc", "", meta={**meta, "background": True})
            continue
        try:
            data = (root / xp).read_bytes()
            try:
                text = data.decode("utf-8")
                tree = ET.fromstring(text)
            except UnicodeDecodeError:  # another encoding, named by its XML declaration (ISO-8859-1...)
                tree = ET.fromstring(data)
                text = ET.tostring(tree, encoding="unicode")
        except OSError as exc:
            layout.annotations[relpath] = Annotations("voc", xp, meta=meta, error=cannot_read(xp, exc))
            continue
        except ET.ParseError as exc:
            line, column = exc.position
            layout.annotations[relpath] = Annotations("voc", xp, meta=meta,
                                                      error=f"{xp}:{line}: not well-formed XML (column {column})")
            continue
        objects, error = _objects(tree, xp)
        layout.annotations[relpath] = Annotations("voc", xp, tuple(objects), meta={**meta, "xml": text},
                                                  error=error)
    return layout


def _objects(tree: ET.Element, where: str) -> tuple[list[Obj], str | None]:
    objects = []
    for i, obj in enumerate(tree.findall("object")):
        box = obj.find("bndbox")
        name = obj.findtext("name")
        if box is None:
            continue  # an object without a box (rare): kept in the XML as it is
        try:
            values = [float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
        except (TypeError, ValueError):
            return objects, f"{where}: object {i} ({name}): bndbox needs numeric xmin, ymin, xmax, ymax"
        if not all(math.isfinite(v) for v in values):
            return objects, f"{where}: object {i} ({name}): NaN or infinite box coordinate"
        xmin, ymin, xmax, ymax = values
        if xmax < xmin or ymax < ymin:
            return objects, f"{where}: object {i} ({name}): xmax < xmin or ymax < ymin"
        integral = all(float(box.findtext(k)).is_integer() for k in ("xmin", "ymin", "xmax", "ymax"))
        objects.append(Obj(i, name, (xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1),
                           extra={"_integral": integral}))
    return objects, None


def _fmt(v: float, integral: bool) -> str:
    return str(round(v)) if integral else f"{v:.2f}"


def write_xml(ann: Annotations, output_name: str, width: int, height: int, depth: int,
              clipped: list | tuple = ()) -> bytes:
    """The source's XML with this output's filename, size and transformed boxes; dropped objects
    removed; objects the border cut marked ``truncated`` where the XML has that field."""
    tree = ET.fromstring(ann.meta["xml"]) if ann.meta.get("xml") else _blank()
    if tree.find("filename") is not None:
        tree.find("filename").text = output_name
    size = tree.find("size")
    if size is not None:
        for key, value in (("width", width), ("height", height), ("depth", depth)):
            if size.find(key) is not None:
                size.find(key).text = str(value)
    kept = {o.id: o for o in ann.objects}
    for i, element in enumerate(tree.findall("object")):
        if element.find("bndbox") is None:
            continue
        if i not in kept:
            tree.remove(element)
            continue
        obj = kept[i]
        if i in clipped and element.find("truncated") is not None:
            element.find("truncated").text = "1"
        x, y, w, h = obj.bbox
        integral = obj.extra.get("_integral", True)
        box = element.find("bndbox")
        if integral:  # 1-based inclusive pixels, kept inside the image
            xmin, ymin = min(max(round(x) + 1, 1), width), min(max(round(y) + 1, 1), height)
            xmax, ymax = min(max(round(x + w), xmin), width), min(max(round(y + h), ymin), height)
        else:
            xmin, ymin, xmax, ymax = x + 1, y + 1, x + w, y + h
        for key, value in (("xmin", xmin), ("ymin", ymin), ("xmax", xmax), ("ymax", ymax)):
            box.find(key).text = _fmt(value, integral)
    return ET.tostring(tree, encoding="unicode").encode() + b"\n"


def _blank() -> ET.Element:
    root = ET.Element("annotation")
    ET.SubElement(root, "filename")
    return root


def finish(root: Path, target: str, datas: list[dict]) -> tuple[bytes, dict]:
    """An ImageSets list with each source's line replaced by a line per output (flags kept)."""
    outputs: dict[str, list[str]] = {}
    for d in datas:
        outputs.setdefault(d["stem"], []).extend(d["outputs"])
    lines = []
    for line in (root / target).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        stem, sep, rest = line.strip().partition(" ")
        lines += [f"{out}{sep}{rest}" for out in outputs.get(stem, [])]
    return "".join(line + "\n" for line in lines).encode(), {"list_entries": len(lines)}
