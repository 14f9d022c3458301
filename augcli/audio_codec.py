"""Audio bytes <-> samples with soundfile: read as audiomentations wants them, write in the source's
format and subtype, byte for byte reproducibly. A leaf: the audio modality (and a video track) share it."""

from __future__ import annotations

import io
import re
import struct
import zlib
from typing import NamedTuple

import numpy as np

from augcli.errors import ItemError


class SourceFormat(NamedTuple):
    """What ``write`` needs to encode a copy the way its source was: soundfile's format and subtype names."""

    format: str
    subtype: str


def read(data: bytes, max_seconds: int | None = None) -> tuple[np.ndarray, int, SourceFormat]:
    """Samples as audiomentations wants them (mono: (n,), else (channels, n)), rate and format.

    One decoder pass: the file is opened once (``soundfile.info`` then ``soundfile.read`` would
    open and parse it twice), and a mono file is read straight into its 1-D array. A clip longer
    than ``max_seconds`` (``audio.max_seconds``) is refused from its header, before it is decoded.
    """
    import soundfile as sf

    if not data:
        raise ItemError("file is empty (0 bytes)")
    try:
        with sf.SoundFile(io.BytesIO(data)) as file:
            rate, source = file.samplerate, SourceFormat(file.format, file.subtype)
            if max_seconds is not None and file.frames > max_seconds * rate:
                raise ItemError(f"the clip is {file.frames / rate:,.0f} s long ({file.frames:,} frames of "
                                f"{file.channels} channel(s) at {rate} Hz, from a {len(data) / 1e3:,.0f} KB file), "
                                f"more than audio.max_seconds ({max_seconds:,}): set audio.max_seconds higher "
                                "in the config to augment it, or exclude the file")
            frames = file.read(dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        reason = str(getattr(exc, "error_string", "") or exc).rstrip(".")  # not "Error opening <BytesIO at 0x..>"
        raise ItemError(f"cannot decode the file as audio: {reason}; fix it, remove it or exclude it") from None
    if frames.shape[0] == 0:
        raise ItemError("the file holds no audio frames")
    _check_finite(frames, rate)
    return (frames if frames.ndim == 1 else np.ascontiguousarray(frames.T)), rate, source


def _check_finite(frames: np.ndarray, rate: int) -> None:
    """A float file can hold NaN or inf samples; every step would spread them over the whole output."""
    finite = np.isfinite(frames)
    if finite.all():
        return
    bad = finite.size - int(np.count_nonzero(finite))
    nan = int(np.count_nonzero(np.isnan(frames)))
    first = int(np.argmin(finite if finite.ndim == 1 else finite.all(axis=1)))
    kinds = " and ".join(f"{n} {kind}" for n, kind in ((nan, "NaN"), (bad - nan, "infinite")) if n)
    raise ItemError(f"{bad} of {finite.size} samples are not finite ({kinds}; the first at {first / rate:.3f} s): "
                    "fix or exclude the file")


def write(samples: np.ndarray, rate: int, info: SourceFormat) -> tuple[bytes, int]:
    """Encode in the source's format and subtype; PCM is clipped to [-1, 1]. Returns bytes and clip count.

    The bytes are a function of the samples alone: libsndfile's time stamps and random Ogg
    serial numbers are taken out (see ``_encode``), so a run regenerates every file bit for bit.
    """
    clipped = 0
    if (info.subtype.startswith(("PCM", "ULAW", "ALAW")) or info.format in ("MP3", "OGG")) and samples.size and (
            samples.max() > 1.0 or samples.min() < -1.0):  # two reductions, no temporary arrays
        clipped = int(np.count_nonzero(np.abs(samples) > 1.0))
        samples = np.clip(samples, -1.0, 1.0)
    frames = samples if samples.ndim == 1 else samples.T
    return _encode(frames, rate, info.format, info.subtype), clipped


_SFC_SET_ADD_PEAK_CHUNK = 0x1050  # sndfile.h; soundfile exports no name for it
_MAT5_TIME = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")


def _encode(frames: np.ndarray, rate: int, format: str, subtype: str) -> bytes:
    """soundfile's ``write`` to bytes, made deterministic.

    libsndfile stamps the PEAK chunk of float WAV/WAVEX/AIFF files and the header text of MAT5
    files with the current time, and gives every Ogg stream (Vorbis, Opus) a serial number
    drawn from the clock: the PEAK chunk (optional, an advisory cache of the peak values) is
    not written, the MAT5 time is the epoch, and the Ogg serial is the CRC-32 of the samples.
    """
    import soundfile as sf

    buffer = io.BytesIO()
    channels = 1 if frames.ndim == 1 else frames.shape[1]
    with sf.SoundFile(buffer, "w", rate, channels, subtype, format=format) as file:
        # SF_TRUE then SF_FALSE: a lone SF_FALSE *adds* the chunk where the format had none (RF64)
        for on in (sf._snd.SF_TRUE, sf._snd.SF_FALSE):
            sf._snd.sf_command(file._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, on)
        file.write(frames)
    data = buffer.getvalue()
    if format == "OGG":
        return ogg_with_serial(data, zlib.crc32(np.ascontiguousarray(frames)))
    if format == "MAT5":
        return _MAT5_TIME.sub(b"1970-01-01 00:00:00 UTC", data[:128], count=1) + data[128:]
    return data


_BIT_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def ogg_crc(page: bytes | bytearray) -> int:
    """Ogg's page checksum: CRC-32, polynomial 0x04C11DB7, not reflected, initial value and final
    xor 0. That is zlib's reflected CRC-32 of the bit-reversed bytes, bit-reversed (zlib's own
    initial and final xor of 0xFFFFFFFF undone), so it runs at C speed."""
    reflected = zlib.crc32(page.translate(_BIT_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


def ogg_with_serial(data: bytes, serial: int) -> bytes:
    """The Ogg stream ``data`` (one logical stream) with every page's serial number set to
    ``serial`` and its checksum recomputed."""
    out = bytearray(data)
    pos = 0
    while pos < len(out):
        if out[pos : pos + 4] != b"OggS" or pos + 27 > len(out):
            raise ValueError(f"not an Ogg page at byte {pos}")
        segments = out[pos + 26]
        end = pos + 27 + segments + sum(out[pos + 27 : pos + 27 + segments])
        struct.pack_into("<I", out, pos + 14, serial & 0xFFFFFFFF)
        struct.pack_into("<I", out, pos + 22, 0)  # the checksum is computed with its own field zeroed
        struct.pack_into("<I", out, pos + 22, ogg_crc(out[pos:end]))
        pos = end
    return bytes(out)
