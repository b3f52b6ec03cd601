"""Write ProceduralShapes images as an ImageFolder (OUT/CLASS_NAME/NNNNN.png).

For `phaselens spectrum build` (a MACO spectrum of the zoo's own data) and for
trying `phaselens bench --images` on data whose answer is known:

    python benchmarks/bench_procedural_folder.py /tmp/procedural --per-class 100 --size 64 --seed 6
    phaselens spectrum build /tmp/procedural --size 64 --out /tmp/procedural_spectrum.npy

Seeds 1-3 are the zoo's train/val/test data and 4-5 the benchmark's reference
images, so the default seed 6 is none of them.
"""

from __future__ import annotations

import argparse
import time

from phaselens.bench.data import write_image_folder
from phaselens.data import CLASS_NAMES, NUM_CLASSES, make_batch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="output folder")
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=6)
    args = p.parse_args()
    start = time.time()
    images, labels = make_batch(args.per_class * NUM_CLASSES, args.size, args.seed)
    n = write_image_folder(images, labels, CLASS_NAMES, args.out)
    print(f"wrote {n} images of {args.size}px to {args.out}/ ({time.time() - start:.1f}s)")


if __name__ == "__main__":
    main()
