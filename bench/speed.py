"""Time and peak memory of `Inpainter.remove` (texture "patches", the default, and
"learned") beside OpenCV's Telea and PyPatchMatch, measured in the same run (ratios, never
absolute targets).

Each case runs in a fresh subprocess so peak RSS (VmHWM) belongs to that case alone.
Run: python bench/speed.py [--device cpu] [--cases 512x512:0.15 6000x4000:0.05]
     [--methods patches learned telea patchmatch] [--whole-process] [--repeats 3]

--whole-process times what a person waits for on the command line instead of the warm
engine call: `iic-inpaint remove photo.jpg mask.png out.jpg` from interpreter start to exit,
against a peer script doing the same with the same files (read the JPEG and the mask,
fill, write the JPEG) — Python, imports, decoding and encoding included on both sides.

Each method runs --repeats times per case, round robin, and the median time is shown (this
2-core machine's timings drift by a third from one minute to the next).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

TELEA_RADIUS = 3

CASE = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np

    def status(key):
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024

    from bench.speed import beach_case

    method, width, height, ratio, device = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    image, hole = beach_case(width, height, ratio)
    if method in ("patches", "learned"):
        from iic_engine import Inpainter
        inpainter = Inpainter(device=device)
        # Warm, as in the daemon: one small job of another shape first.
        warm = np.zeros((96, 128, 3), np.uint8)
        warm_hole = np.zeros((96, 128), np.uint8)
        warm_hole[30:60, 40:80] = 255
        inpainter.remove(warm, warm_hole, texture=method)
        run = lambda: inpainter.remove(image, hole, texture=method)
    elif method == "patchmatch":
        from patchmatch import patch_match
        run = lambda: patch_match.inpaint(image, hole, patch_size=3)
    else:
        import cv2
        run = lambda: cv2.inpaint(image, hole, TELEA_RADIUS, cv2.INPAINT_TELEA)
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    before = status("VmRSS")
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_growth": status("VmHWM") - before,
                      "peak": status("VmHWM"), "hole": float((hole > 0).mean())}))
    """
).replace("TELEA_RADIUS", str(TELEA_RADIUS))


def measure(method: str, width: int, height: int, ratio: float, device: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", CASE, method, str(width), str(height), str(ratio), device],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


# The peers as a person would script them: read the files, fill, write the result.
PEER_PROCESS = textwrap.dedent(
    """
    import sys
    import cv2
    method, photo, mask_path, out = sys.argv[1:5]
    image = cv2.imread(photo, cv2.IMREAD_COLOR)
    hole = (cv2.imread(mask_path, cv2.IMREAD_GRAYSCALE) >= 128).astype("uint8") * 255
    if method == "patchmatch":
        from patchmatch import patch_match
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        result = cv2.cvtColor(patch_match.inpaint(rgb, hole, patch_size=3), cv2.COLOR_RGB2BGR)
    else:
        result = cv2.inpaint(image, hole, TELEA_RADIUS, cv2.INPAINT_TELEA)
    cv2.imwrite(out, result, [cv2.IMWRITE_JPEG_QUALITY, 95])
    """
).replace("TELEA_RADIUS", str(TELEA_RADIUS))


def measure_process(
    method: str, width: int, height: int, ratio: float, device: str, folder: Path
) -> dict:
    """One whole process on files written once per case: wall time from spawn to exit,
    peak RSS from the child's own rusage."""
    photo, mask = folder / "photo.jpg", folder / "mask.png"
    if not photo.exists():
        _write_case_files(width, height, ratio, photo, mask)
    out = str(folder / f"out_{method}.jpg")
    if method in ("patches", "learned"):
        command = [
            sys.executable, "-m", "iic_cli.main", "remove", str(photo), str(mask), out,
            "--texture", method, "--device", device, "--quality", "95",
        ]  # fmt: skip
    else:
        command = [sys.executable, "-c", PEER_PROCESS, method, str(photo), str(mask), out]
    # stderr to a file, not a pipe: the progress bar would fill a pipe nobody reads until
    # the child exits, and block it.
    with open(folder / f"stderr_{method}.txt", "w+b") as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            errors.seek(0)
            raise RuntimeError(f"{method} failed ({code}): {errors.read().decode()[-2000:]}")
    from PIL import Image

    hole = np.asarray(Image.open(mask)) >= 128
    # ru_maxrss is in KiB on Linux.
    return {"seconds": seconds, "peak": usage.ru_maxrss * 1024, "hole": float(hole.mean())}


def beach_case(width: int, height: int, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """The beach photo resized (H,W,3) uint8 and an elliptical object of `ratio` of its area
    in the middle of the frame (H,W) uint8 0/255: every case, warm or whole-process."""
    from PIL import Image

    photo = Image.open("examples/beach.jpg").convert("RGB").resize((width, height), Image.BICUBIC)
    y, x = np.ogrid[:height, :width]
    semi_y = (ratio * height * width / np.pi / 1.5) ** 0.5
    semi_x = 1.5 * semi_y
    inside = ((x - width / 2) / semi_x) ** 2 + ((y - height / 2) / semi_y) ** 2 <= 1
    return np.asarray(photo).copy(), inside.astype(np.uint8) * 255


def _write_case_files(width: int, height: int, ratio: float, photo: Path, mask: Path) -> None:
    """`beach_case` as a camera JPEG and a PNG mask."""
    from PIL import Image

    image, hole = beach_case(width, height, ratio)
    Image.fromarray(image).save(photo, quality=95)
    Image.fromarray(hole).save(mask)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--cases", nargs="+", default=["512x512:0.15", "2048x1365:0.05", "6000x4000:0.05"]
    )
    parser.add_argument(
        "--methods", nargs="+", default=["patches", "learned", "telea", "patchmatch"]
    )
    parser.add_argument(
        "--whole-process",
        action="store_true",
        help="time `iic-inpaint remove` on files from start to exit against peer scripts",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per method and case: the median is shown"
    )
    args = parser.parse_args()
    print("| image | hole | method | time (s) | × Telea | × PatchMatch | peak (GiB) |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for case in args.cases:
        size, ratio_text = case.split(":")
        width, height = (int(v) for v in size.split("x"))
        ratio = float(ratio_text)
        with tempfile.TemporaryDirectory() as folder:
            runs: dict[str, list[dict]] = {m: [] for m in args.methods}
            # Round robin: a slow spell of the machine falls on every method alike.
            for _ in range(args.repeats):
                for method in args.methods:
                    if args.whole_process:
                        run = measure_process(
                            method, width, height, ratio, args.device, Path(folder)
                        )
                    else:
                        run = measure(method, width, height, ratio, args.device)
                    runs[method].append(run)
        results = {m: _median_run(r) for m, r in runs.items()}
        for method, result in results.items():
            cells = [
                f"{result['seconds'] / results[peer]['seconds']:.2f}" if peer in results else "–"
                for peer in ("telea", "patchmatch")
            ]
            print(
                f"| {width}×{height} | {result['hole']:.1%} | {method} | "
                f"{result['seconds']:.2f} | {cells[0]} | {cells[1]} | "
                f"{result['peak'] / 2**30:.2f} |",
                flush=True,
            )


def _median_run(runs: list[dict]) -> dict:
    """The run of median time, with the highest peak of them all."""
    middle = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    return {**middle, "peak": max(r["peak"] for r in runs)}


if __name__ == "__main__":
    main()
