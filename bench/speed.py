"""Time and peak memory of `Inpainter.remove` beside OpenCV's Telea inpainting, measured in
the same run (ratios, never absolute targets).

Each case runs in a fresh subprocess so peak RSS (VmHWM) belongs to that case alone.
Run: python bench/speed.py [--device cpu] [--sizes 512x512 2048x1365 6000x4000] [--holes 0.05 0.2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

TELEA_RADIUS = 3

CASE = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from PIL import Image

    def status(key):
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024

    method, width, height, ratio, device = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    photo = Image.open("examples/beach.jpg").convert("RGB").resize((width, height), Image.BICUBIC)
    image = np.asarray(photo).copy()
    # An elliptical object of the requested area in the middle of the frame.
    y, x = np.ogrid[:height, :width]
    semi_y = (ratio * height * width / np.pi / 1.5) ** 0.5
    semi_x = 1.5 * semi_y
    hole = ((((x - width / 2) / semi_x) ** 2 + ((y - height / 2) / semi_y) ** 2) <= 1).astype(np.uint8) * 255
    if method == "iic":
        from iic_engine import Inpainter
        inpainter = Inpainter(device=device)
        # Warm, as in the daemon: one small job of another shape first.
        warm = np.zeros((96, 128, 3), np.uint8)
        warm_hole = np.zeros((96, 128), np.uint8)
        warm_hole[30:60, 40:80] = 255
        inpainter.remove(warm, warm_hole)
        run = lambda: inpainter.remove(image, hole)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", nargs="+", default=["512x512", "2048x1365", "6000x4000"])
    parser.add_argument("--holes", nargs="+", type=float, default=[0.05, 0.2])
    args = parser.parse_args()
    print(
        "| image | hole | IIC time (s) | Telea time (s) | time ratio | "
        "IIC peak (GiB) | Telea peak (GiB) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        width, height = (int(v) for v in size.split("x"))
        for ratio in args.holes:
            ours = measure("iic", width, height, ratio, args.device)
            telea = measure("telea", width, height, ratio, args.device)
            print(
                f"| {width}×{height} | {ours['hole']:.1%} | {ours['seconds']:.2f} | "
                f"{telea['seconds']:.2f} | {ours['seconds'] / telea['seconds']:.2f} | "
                f"{ours['peak'] / 2**30:.2f} | {telea['peak'] / 2**30:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
