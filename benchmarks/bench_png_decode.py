"""CPU time to decode one camera-sized PNG with OpenCV (what seg-predict uses) and the other decoders installed.

    python benchmarks/bench_png_decode.py [--num 4] [--repeats 3] [--size 2048x1024]

Decoding is the part of seg-predict's frame that seg-bench never pays (issue 15, item 8), so this asks
whether a faster PNG decoder would close the gap. Generated scenes of ``--size`` are written as PNGs the way
``seg-make-data`` writes them, read into memory once, then every decoder decodes every file ``--repeats``
times on one thread; the median process CPU ms per decode is printed with its ratio to OpenCV's.
Pillow is always there (a torchvision dependency); pyspng and imagecodecs are measured when importable
(``pip install pyspng imagecodecs``: neither is a dependency of this project).
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from seg_perception.size import Size, size_arg
from training.data.make_data import MIN_SIDE, generate_split


def _optional_decoders() -> dict:
    decoders = {}
    try:
        import pyspng
        decoders["pyspng (libspng)"] = pyspng.load
    except ImportError:
        print("pyspng not installed: skipped")
    try:
        import imagecodecs
        decoders["imagecodecs png_decode (libpng)"] = imagecodecs.png_decode
        decoders["imagecodecs spng_decode (libspng)"] = imagecodecs.spng_decode
    except ImportError:
        print("imagecodecs not installed: skipped")
    return decoders


def decoders() -> dict:
    """Name -> function(bytes) -> H x W x 3 uint8 array, OpenCV first."""
    return {"OpenCV imdecode (seg-predict)": lambda data: cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
            "Pillow": lambda data: np.asarray(Image.open(io.BytesIO(data)).convert("RGB")),
            **_optional_decoders()}


def cpu_ms(decode, blobs: list[bytes], repeats: int, shape: tuple) -> float:
    """Median process CPU ms of one decode; checks every decode gives the frame's shape."""
    times = []
    for _ in range(repeats):
        for data in blobs:
            start = time.process_time()
            image = decode(data)
            times.append(1000 * (time.process_time() - start))
            if image.shape != shape:
                raise RuntimeError(f"decoded shape {image.shape}, expected {shape}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=size_arg(MIN_SIDE), default=Size(2048, 1024), metavar="WxH")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    width, height = args.size
    with tempfile.TemporaryDirectory() as root:
        generate_split(root, "val", args.num, width, height, seed=0, workers=1, progress=False)
        files = sorted(Path(root, "leftImg8bit", "val").rglob("*.png"))
        blobs = [path.read_bytes() for path in files]
    print(f"{len(blobs)} generated {width}x{height} PNGs, {statistics.mean(map(len, blobs)) / 1e6:.1f} MB each; "
          f"median CPU ms per decode over {args.repeats} rounds, one thread")
    reference = None
    for name, decode in decoders().items():
        ms = cpu_ms(decode, blobs, args.repeats, (height, width, 3))
        reference = reference or ms
        print(f"{name:36s} {ms:6.1f} ms  {ms / reference:5.2f}x OpenCV's")


if __name__ == "__main__":
    main()
