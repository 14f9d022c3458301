"""Regenerate the audio of sample_data/ from real speech on this machine.

    apt-get install espeak-ng alsa-utils && python scripts/make_sample_audio.py

- train/speech/*.wav, val/speech/*.wav: espeak-ng reading sentences of quotes.txt, 16 kHz mono
  PCM_16, each with its transcript (.txt) and a Hugging Face audiofolder metadata.csv.
- train/stereo/front.wav: ALSA's recorded "Front left" / "Front right" voices as the left and
  right channels of one 48 kHz stereo PCM_24 file.
- noise/alsa_noise.wav: ALSA's Noise.wav at 16 kHz, for AddBackgroundNoise.
- ir/room.wav: a synthetic room impulse response: white noise (seed 0) under an exponential
  decay with RT60 = 0.3 s, 16 kHz, for ApplyImpulseResponse.
"""

from __future__ import annotations

import csv
import subprocess
import tempfile
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent / "sample_data"
ALSA = Path("/usr/share/sounds/alsa")
RATE = 16000


def speak(text: str) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", tmp.name, text], check=True)
        samples, rate = sf.read(tmp.name, dtype="float32")
    return librosa.resample(samples, orig_sr=rate, target_sr=RATE)


def main() -> None:
    sentences = [s for s in (ROOT / "train" / "quotes.txt").read_text().splitlines() if s][:5]
    for split, chosen in (("train", sentences[:4]), ("val", sentences[4:5])):
        folder = ROOT / split / "speech"
        folder.mkdir(parents=True, exist_ok=True)
        rows = [["file_name", "transcription"]]
        for i, sentence in enumerate(chosen):
            name = f"utt_{split}_{i:02d}"
            sf.write(folder / f"{name}.wav", speak(sentence), RATE, subtype="PCM_16")
            (folder / f"{name}.txt").write_text(sentence + "\n")
            rows.append([f"{name}.wav", sentence])
        with open(folder / "metadata.csv", "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)

    left, rate = sf.read(ALSA / "Front_Left.wav", dtype="float32")
    right, _ = sf.read(ALSA / "Front_Right.wav", dtype="float32")
    n = max(len(left), len(right))
    stereo = np.stack([np.pad(left, (0, n - len(left))), np.pad(right, (0, n - len(right)))], axis=1)
    (ROOT / "train" / "stereo").mkdir(parents=True, exist_ok=True)
    sf.write(ROOT / "train" / "stereo" / "front.wav", stereo, rate, subtype="PCM_24")

    noise, rate = sf.read(ALSA / "Noise.wav", dtype="float32")
    (ROOT / "noise").mkdir(exist_ok=True)
    sf.write(ROOT / "noise" / "alsa_noise.wav", librosa.resample(noise, orig_sr=rate, target_sr=RATE), RATE,
             subtype="PCM_16")

    t = np.arange(int(0.4 * RATE)) / RATE
    ir = np.random.default_rng(0).standard_normal(len(t)) * np.exp(-6.9 * t / 0.3)
    ir[0] = 1.0  # the direct path
    (ROOT / "ir").mkdir(exist_ok=True)
    sf.write(ROOT / "ir" / "room.wav", (ir / np.abs(ir).max()).astype(np.float32), RATE, subtype="FLOAT")
    print(f"wrote speech, stereo, noise and impulse response under {ROOT}")


if __name__ == "__main__":
    main()
