"""Annotated image datasets (COCO, YOLO/Ultralytics, Pascal VOC, mask folders), one module per concern:

- model, geometry, layout, rules: the annotation model, its geometry, what discovery learns from a
  layout, and what steps need (leaves);
- coco, yolo, voc, masks: each format's reader and writers, on plain arguments (leaves);
- detect: the layout of an input, through the readers (discovery's call);
- transform, worker, mixing, draw: moving labels with the pixels, an annotated image task, mixing
  annotated images, drawing them for previews (the image modality's helpers).

This file holds no code: importing a leaf of the package imports nothing else.
"""
