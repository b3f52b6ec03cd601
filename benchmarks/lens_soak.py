"""Kill `phaselens lens` at random moments, resume it each time, and compare with an uninterrupted run.

    python benchmarks/lens_soak.py                          # 12 kills, zoo:cnn, 40 channels x 2 facets
    python benchmarks/lens_soak.py --kills 20 --seed 3 --target class:0-5 --steps 32

Each kill is a SIGKILL (no cleanup, as the OOM killer or a pre-empted node gives) at a
random moment of the run: after 0 to `--batch` more targets have completed, plus 0-2 s, so kills
land in start-up, in the middle of a batch, while a batch is being saved or the site built. The
run is then started again with the same command, until it finishes. At the end the folder
must hold exactly the uninterrupted run's images (byte for byte), every target complete, no
temporary file left, and a site listing every target. Prints one line per kill and a summary;
exits 1 when anything differs. Time is bounded: kills stop after `--max-minutes`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lens_command(args: argparse.Namespace, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "phaselens",
        "lens",
        "--model",
        args.model,
        "--target",
        args.target,
        "--steps",
        str(args.steps),
        "--size",
        str(args.size),
        "--facets",
        str(args.facets),
        "--batch",
        str(args.batch),
        "--device",
        "cpu",
        "--no-progress",
        "--out",
        str(out),
    ]


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every image under targets/ (what must be identical), by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((folder / "targets").rglob("*"))
        if p.suffix in (".png", ".jpg")
    }


def complete(folder: Path) -> int:
    """Targets with a manifest (complete) in a lens folder."""
    return sum(1 for _ in (folder / "targets").glob("*/manifest.json")) if (folder / "targets").is_dir() else 0


def check(folder: Path, reference: dict[str, str]) -> list[str]:
    """What is wrong with a finished soak folder, compared with the reference digests."""
    problems = []
    got = digest(folder)
    missing = sorted(set(reference) - set(got))
    extra = sorted(set(got) - set(reference))
    differ = sorted(k for k in set(got) & set(reference) if got[k] != reference[k])
    for name, items in (("missing", missing), ("unexpected", extra), ("different", differ)):
        if items:
            problems.append(f"{len(items)} {name} images, e.g. {items[0]}")
    temps = [str(p.relative_to(folder)) for p in folder.rglob(".*.tmp")]
    if temps:
        problems.append(f"{len(temps)} temporary files left, e.g. {temps[0]}")
    targets = sorted(p.parent.name for p in (folder / "targets").rglob("manifest.json"))
    expected = sorted({Path(k).parts[1] for k in reference})
    if targets != expected:
        problems.append(f"complete targets {len(targets)} of {len(expected)}")
    data = folder / "site" / "data.js"
    if not (folder / "site" / "index.html").is_file() or not data.is_file():
        problems.append("site incomplete (index.html or data.js missing)")
    elif not all(name in data.read_text() for name in expected):
        problems.append("site data does not list every target")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kills", type=int, default=12, help="kills before the run may finish (default 12)")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill moments (default 0)")
    p.add_argument("--model", default="zoo:cnn")
    p.add_argument("--target", default="channel:layer2:0-39", help="enough targets for every kill to land mid-run")
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--facets", type=int, default=2)
    p.add_argument("--batch", type=int, default=2, help="targets per batch: smaller batches, more save moments")
    p.add_argument("--max-minutes", type=float, default=20.0, help="stop killing after this long (default 20)")
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="lens-soak-"))
    print(f"soak in {work}: {' '.join(lens_command(args, work / 'OUT')[2:])}")

    start = time.time()
    subprocess.run(lens_command(args, work / "reference"), check=True, capture_output=True, cwd=ROOT)
    uninterrupted = time.time() - start
    reference = digest(work / "reference")
    print(f"uninterrupted run: {uninterrupted:.1f} s, {len(reference)} image files")

    soak = work / "soak"
    kills, runs, deadline = 0, 0, time.time() + 60 * args.max_minutes
    moments = []
    while True:
        runs += 1
        proc = subprocess.Popen(lens_command(args, soak), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
        if kills < args.kills and time.time() < deadline:
            # The moment: after 0..batch more targets complete, plus 0-2 s, so kills land in start-up,
            # mid-batch, while a batch is being saved, and while the site is built.
            before = complete(soak)
            wait_for = before + rng.randint(0, args.batch)
            delay = rng.uniform(0.0, 2.0)
            t0 = time.time()
            while proc.poll() is None and complete(soak) < wait_for and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(delay)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                moments.append(time.time() - t0)
                print(
                    f"kill {kills:2d} at {moments[-1]:5.1f} s of run {runs}, waiting for {wait_for - before} "
                    f"more targets + {delay:.1f} s: {complete(soak)} targets complete"
                )
                continue
        _out, err = proc.communicate()
        if proc.returncode != 0:
            print(f"run {runs} failed (exit {proc.returncode}): {err.decode().strip()[-300:]}")
            return 1
        break
    problems = check(soak, reference)
    config = json.loads((soak / "lens.json").read_text())
    print(
        f"summary: {kills} kills over {runs} runs ({time.time() - start:.0f} s in all, kill moments "
        f"{min(moments, default=0):.1f}-{max(moments, default=0):.1f} s), {len(config['planned'])} targets; "
        + ("final folder identical to the uninterrupted run, site complete" if not problems else "; ".join(problems))
    )
    return 0 if not problems and kills >= min(args.kills, 1) else 1


if __name__ == "__main__":
    sys.exit(main())
