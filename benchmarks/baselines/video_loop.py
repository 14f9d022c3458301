"""The plain script a competent user writes: PyAV -> albumentations -> PyAV, in joblib; or the codec floor.

    python video_loop.py INPUT OUTPUT [--copies K] [--jobs -1] [--floor]

Each clip is decoded once for all its copies (its frames held in a list); each copy draws one set of
albumentations parameters for all its frames (Compose's ``images=`` target); the copy is encoded with
the source's codec (libx264 CRF 18 / libvpx-vp9 CRF 30, the encoder's default threads) and the audio
packets are copied. Outputs keep the input's folders, as ``name__augK.ext``.

``--floor``: the least work augcli's outputs need, decode once and encode K copies (with augcli's
encoder settings: one thread, x264's cpu-independent mode), audio copied, no augmentation.
"""

import argparse
import os
import random
from pathlib import Path

import av
import numpy as np
from joblib import Parallel, delayed

ENCODERS = {"h264": ("libx264", {"crf": "18", "preset": "medium"}),
            "vp9": ("libvpx-vp9", {"crf": "30", "b": "0", "deadline": "good", "cpu-used": "4"})}
AUGCLI_EXTRA = {"libx264": {"x264-params": "cpu-independent=1"}, "libvpx-vp9": {"row-mt": "0"}}


def open_output(path, source, floor):
    codec = source.streams.video[0].codec_context
    encoder, options = ENCODERS[codec.name]
    out = av.open(path, "w", options={"fflags": "+bitexact"} if floor else {})
    stream = out.add_stream(encoder, rate=source.streams.video[0].average_rate)
    stream.width, stream.height, stream.pix_fmt = codec.width, codec.height, "yuv420p"
    if floor:
        stream.codec_context.thread_count = 1
        options = {**options, **AUGCLI_EXTRA[encoder]}
    stream.options = options
    audio = out.add_stream_from_template(source.streams.audio[0]) if source.streams.audio else None
    return out, stream, audio


def augment_clip(src, dst_stem, suffix, copies, floor, seeds):
    os.makedirs(os.path.dirname(dst_stem), exist_ok=True)
    with av.open(src) as source:
        outputs = [open_output(f"{dst_stem}__aug{k}{suffix}", source, floor) for k in range(copies)]
        if floor:  # decode once, encode every copy as the frames come
            index = 0
            for packet in source.demux():
                if packet.stream.type == "audio" and packet.size:
                    for out, _, audio in outputs:
                        copied = av.Packet(bytes(packet))
                        copied.pts, copied.dts, copied.time_base = packet.pts, packet.dts, packet.time_base
                        copied.stream = audio
                        out.mux(copied)
                elif packet.stream.type == "video":
                    for frame in packet.decode():  # the decoded picture itself: no conversion at all
                        frame.pts, frame.pict_type = index, av.video.frame.PictureType.NONE
                        index += 1
                        for out, stream, _ in outputs:
                            out.mux(stream.encode(frame))
        else:
            import albumentations as A

            frames = np.stack([f.to_ndarray(format="rgb24") for f in source.decode(video=0)])
            transform = A.Compose([A.HorizontalFlip(p=0.5), A.RandomBrightnessContrast(p=0.5)])
            for k, (out, stream, _) in enumerate(outputs):
                if seeds is not None:
                    transform.set_random_state(np.random.default_rng(seeds[k]), random.Random(seeds[k]))
                for i, image in enumerate(transform(images=frames)["images"]):
                    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                    frame.pts = i
                    out.mux(stream.encode(frame))
    if not floor:  # the audio packets, copied
        with av.open(src) as source:
            for packet in source.demux(audio=0) if source.streams.audio else ():
                if packet.size:
                    for out, _, audio in outputs:
                        copied = av.Packet(bytes(packet))
                        copied.pts, copied.dts, copied.time_base = packet.pts, packet.dts, packet.time_base
                        copied.stream = audio
                        out.mux(copied)
    for out, stream, _ in outputs:
        out.mux(stream.encode(None))
        out.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=-1)
    parser.add_argument("--floor", action="store_true")
    parser.add_argument("--seeds", choices=["none", "augcli"], default="none")
    args = parser.parse_args()
    sources = sorted(p for p in args.input.rglob("*") if p.suffix in (".mp4", ".webm"))
    seeds = {}
    if args.seeds == "augcli":
        from augcli.seeding import item_seed

        seeds = {p: [item_seed(0, p.relative_to(args.input).as_posix(), k) for k in range(args.copies)]
                 for p in sources}
    Parallel(n_jobs=args.jobs)(
        delayed(augment_clip)(str(p), str(args.output / p.relative_to(args.input).with_suffix("")), p.suffix,
                              args.copies, args.floor, seeds.get(p))
        for p in sources
    )


if __name__ == "__main__":
    main()
