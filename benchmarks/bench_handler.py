"""Benchmark the Lambda function's image path against a plain Pillow version and libvips.

    .venv/bin/python benchmarks/bench_handler.py            # 3 rounds x 5 repeats per cell
    .venv/bin/python benchmarks/bench_handler.py --quick    # 1 round x 2 repeats
    .venv/bin/pip install -e '.[bench]'                     # optional: the libvips column

On the same generated photos (JPEG at about 1, 12, 24 and 48 megapixels and a
12 megapixel PNG: gradients, shapes and sensor-like noise, saved at quality 90)
it measures, each case in a fresh subprocess:

* handler: ``process_image`` from lambda_function/lambda_function.py, bytes in,
  bytes out (reduced JPEG decoding, one resampling pass, watermark, encode);
* plain:   what the common tutorials write: ``Image.open`` -> ``img.resize((w, h),
  Image.LANCZOS)`` -> ``ImageDraw.text`` watermark -> ``save`` (JPEG quality 85);
* vips:    ``pyvips.Image.thumbnail_buffer`` + ``write_to_buffer`` (quality 85;
  no watermark), when pyvips and libvips are importable, else the column is "-".

Each cell runs in ``--rounds`` fresh subprocesses, interleaved across the three
columns, each timing ``--repeats`` runs after one warm-up on a tiny image; the
time shown is the median of all those runs. Memory is the median over rounds of
the subprocess's peak RSS (VmHWM, else ``ru_maxrss``) minus its RSS after
imports, warm-up and reading the file, so it is what processing the image added, C allocations
included (tracemalloc would miss Pillow's and libvips' buffers).

It also measures the import cost of the module beyond ``import boto3,
PIL.Image`` (fresh interpreters, median), and the whole-process peak RSS of
processing the 48 MP JPEG as Lambda would at 128 MB: module imported, both
boto3 clients created, memory budget derived from 128 MB.

These are measurements, not tests: nothing here fails the build.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HANDLER_PATH = Path(__file__).resolve().parents[1] / "lambda_function" / "lambda_function.py"
MAX_DIMENSION = 1024
QUALITY = 85
WATERMARK = "processed by walkthrough"

# name, megapixels, format
CASES = [
    ("JPEG 1 MP", 1, "JPEG"),
    ("JPEG 12 MP", 12, "JPEG"),
    ("JPEG 24 MP", 24, "JPEG"),
    ("JPEG 48 MP", 48, "JPEG"),
    ("PNG 12 MP", 12, "PNG"),
]
IMPLEMENTATIONS = ("handler", "plain", "vips")


# --------------------------------------------------------------------------
# Test images
# --------------------------------------------------------------------------


def make_photo(megapixels: float, seed: int = 1) -> Any:
    """A 4:3 picture with gradients, overlapping shapes and grain, like a photo compresses."""
    from PIL import Image, ImageDraw

    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = width * 3 // 4
    rnd = random.Random(seed)
    gradient = Image.linear_gradient("L")
    base = Image.merge(
        "RGB",
        (
            gradient.resize((width, height)),
            Image.radial_gradient("L").resize((width, height)),
            gradient.transpose(Image.Transpose.ROTATE_90).resize((width, height)),
        ),
    )
    draw = ImageDraw.Draw(base)
    for _ in range(40):
        x0, y0 = rnd.randrange(width), rnd.randrange(height)
        x1, y1 = x0 + rnd.randrange(width // 4), y0 + rnd.randrange(height // 4)
        colour = tuple(rnd.randrange(256) for _ in range(3))
        (draw.ellipse if rnd.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    noise = Image.effect_noise((width, height), 30).convert("RGB")
    return Image.blend(base, noise, 0.2)


def generate(folder: Path) -> dict[str, Path]:
    files = {}
    photos: dict[int, Any] = {}
    for name, megapixels, fmt in CASES:
        img = photos.get(megapixels) or photos.setdefault(megapixels, make_photo(megapixels))
        path = folder / f"{name.replace(' ', '_')}.{fmt.lower()}"
        img.save(path, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        files[name] = path
        print(f"  generated {name}: {img.width}x{img.height}, {path.stat().st_size / 1e6:.1f} MB", flush=True)
    photos.clear()
    return files


# --------------------------------------------------------------------------
# Workers (run in fresh subprocesses)
# --------------------------------------------------------------------------


def load_handler() -> Any:
    spec = importlib.util.spec_from_file_location("deployed_lambda_function", HANDLER_PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def fit(size: tuple[int, int]) -> tuple[int, int]:
    scale = min(1.0, MAX_DIMENSION / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def plain_pillow(data: bytes) -> bytes:
    """The tutorial version: full decode, one LANCZOS resize, text, save."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.open(io.BytesIO(data))
    fmt = img.format
    img = img.resize(fit(img.size), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=max(8, round(min(img.size) * 0.04)))
    left, top, right, bottom = draw.textbbox((0, 0), WATERMARK, font=font)
    draw.text((img.width - right - 10, img.height - bottom - 10), WATERMARK, font=font, fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, fmt, **({"quality": QUALITY} if fmt == "JPEG" else {}))
    return out.getvalue()


def rss_mb(field: str = "VmHWM") -> float:
    """This process's peak (VmHWM) or current (VmRSS) resident memory, in MB.

    /proc describes the process's own address space. ru_maxrss would do
    elsewhere, but on Linux a child inherits its parent's high-water mark
    through fork and exec, so it would report the image generator's gigabyte.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def worker(implementation: str, path: str, repeats: int) -> dict[str, Any]:
    """Time and measure one implementation on one file; print JSON."""
    if implementation == "vips":
        import pyvips

        pyvips.cache_set_max(0)  # every repeat does the work again

        def run(data: bytes) -> bytes:
            thumb = pyvips.Image.thumbnail_buffer(data, MAX_DIMENSION, height=MAX_DIMENSION, size="down")
            suffix = ".png" if data[:4] == b"\x89PNG" else ".jpg"
            return thumb.write_to_buffer(suffix, **({"Q": QUALITY} if suffix == ".jpg" else {}))

    elif implementation == "handler":
        module = load_handler()

        def run(data: bytes) -> bytes:
            return module.process_image(data, max_dimension=MAX_DIMENSION, watermark_text=WATERMARK).data

    else:
        run = plain_pillow

    from PIL import Image

    warm = io.BytesIO()
    Image.new("RGB", (16, 12), (90, 120, 150)).save(warm, "JPEG")
    run(warm.getvalue())  # plugin imports, font loading: not part of the measurement
    data = Path(path).read_bytes()
    baseline = rss_mb("VmRSS")
    times = []
    output = b""
    for _ in range(repeats):
        started = time.perf_counter()
        output = run(data)
        times.append((time.perf_counter() - started) * 1000)
    result = Image.open(io.BytesIO(output))
    return {
        "times": times,
        "peak_mb": rss_mb() - baseline,
        "output_bytes": len(output),
        "output_size": list(result.size),
    }


def worker_lambda_128(path: str) -> dict[str, Any]:
    """The whole process as Lambda at 128 MB would hold it: imports, clients, one image."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    module = load_handler()
    module._client("s3")
    module._client("dynamodb")
    data = Path(path).read_bytes()
    result = module.process_image(data, memory_budget=module.decode_budget(128, len(data)))
    return {"peak_mb": rss_mb(), "output_size": [result.width, result.height]}


IMPORT_BASE = "import time; t0 = time.perf_counter(); import boto3, PIL.Image; t1 = time.perf_counter()"
IMPORT_MODULE = (
    IMPORT_BASE
    + "; import importlib.util as u, sys; s = u.spec_from_file_location('m', {path!r}); m = u.module_from_spec(s);"
    + " sys.modules['m'] = m; s.loader.exec_module(m); t2 = time.perf_counter()"
)


def import_times(runs: int) -> tuple[float, float, float]:
    """Median ms of ``import boto3, PIL.Image``; of that plus the module; and the module alone."""
    base, total, extra = [], [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", IMPORT_BASE + "; print((t1 - t0) * 1000)"],
            capture_output=True, text=True, check=True,
        ).stdout
        base.append(float(out))
        out = subprocess.run(
            [sys.executable, "-c", IMPORT_MODULE.format(path=str(HANDLER_PATH)) + "; print((t2 - t0) * 1000, (t2 - t1) * 1000)"],
            capture_output=True, text=True, check=True,
        ).stdout.split()
        total.append(float(out[0]))
        extra.append(float(out[1]))
    return statistics.median(base), statistics.median(total), statistics.median(extra)


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def vips_available() -> str | None:
    probe = subprocess.run(
        [sys.executable, "-c", "import pyvips; print(pyvips.version(0), pyvips.version(1), pyvips.version(2), sep='.')"],
        capture_output=True, text=True,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def run_worker(*args: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, "--worker", *args], capture_output=True, text=True
    )
    if completed.returncode != 0:
        return {"error": completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else "failed"}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median time over every repeat of every round; median of the rounds' peak memory."""
    good = [run for run in runs if "error" not in run]
    if not good:
        return runs[0]
    return {
        "ms": statistics.median(t for run in good for t in run["times"]),
        "peak_mb": statistics.median(run["peak_mb"] for run in good),
        "output_bytes": good[0]["output_bytes"],
        "output_size": good[0]["output_size"],
    }


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


def number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 2 repeats per case, 3 import runs")
    parser.add_argument("--repeats", type=int, help="repeats per subprocess (default 5, 2 with --quick)")
    parser.add_argument("--rounds", type=int, help="fresh subprocesses per cell (default 3, 1 with --quick)")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        kind, *rest = args.worker
        result = worker_lambda_128(rest[0]) if kind == "lambda128" else worker(kind, rest[0], int(rest[1]))
        print(json.dumps(result))
        return 0

    repeats = args.repeats or (2 if args.quick else 5)
    rounds = args.rounds or (1 if args.quick else 3)
    import_runs = 3 if args.quick else 9
    vips = vips_available()
    import PIL

    print(f"Python {sys.version.split()[0]}, Pillow {PIL.__version__}, libvips {vips or 'not available'}, "
          f"{os.cpu_count()} CPUs, {rounds} round(s) of {repeats} repeats per cell")
    with tempfile.TemporaryDirectory(prefix="bench-handler-") as folder:
        files = generate(Path(folder))
        results: dict[tuple[str, str], dict[str, Any]] = {}
        implementations = [i for i in IMPLEMENTATIONS if i != "vips" or vips]
        for name, _, _ in CASES:
            runs: dict[str, list[dict[str, Any]]] = {i: [] for i in implementations}
            # Interleaved rounds, so a busy moment on the machine hits every column alike.
            for _ in range(rounds):
                for implementation in implementations:
                    runs[implementation].append(run_worker(implementation, str(files[name]), str(repeats)))
            for implementation, measured in runs.items():
                results[name, implementation] = summarise(measured)
                print(f"  measured {name} / {implementation}: {results[name, implementation]}", flush=True)
        lambda128 = run_worker("lambda128", str(files["JPEG 48 MP"]))
        sizes = {name: files[name].stat().st_size / 1e6 for name in files}
    base_ms, total_ms, extra_ms = import_times(import_runs)

    def get(name: str, implementation: str, field: str) -> float | None:
        value = results.get((name, implementation), {}).get(field)
        return float(value) if value is not None else None

    header = (f"{'case':<11} {'file MB':>7} | {'handler ms':>10} {'plain ms':>9} {'vips ms':>8} | "
              f"{'vs plain':>8} {'vs vips':>8} | {'handler MB':>10} {'plain MB':>9} {'vips MB':>8} | {'vs vips':>7}")
    print()
    print(header)
    print("-" * len(header))
    for name, _, _ in CASES:
        h_ms, p_ms, v_ms = (get(name, i, "ms") for i in IMPLEMENTATIONS)
        h_mb, p_mb, v_mb = (get(name, i, "peak_mb") for i in IMPLEMENTATIONS)
        print(f"{name:<11} {sizes[name]:>7.1f} | {number(h_ms):>10} {number(p_ms):>9} {number(v_ms):>8} | "
              f"{ratio(h_ms, p_ms):>8} {ratio(h_ms, v_ms):>8} | {number(h_mb):>10} {number(p_mb):>9} {number(v_mb):>8} | "
              f"{ratio(h_mb, v_mb):>7}")
    print()
    print("ms: median wall time; MB: peak RSS added by processing (fresh subprocess per cell);")
    print("ratios: handler / other, below 1.00x means the handler is faster or smaller.")
    print(f"Import: boto3 + PIL.Image {base_ms:.1f} ms; with the module {total_ms:.1f} ms "
          f"(difference {total_ms - base_ms:+.1f} ms; module alone, measured in-process, {extra_ms:.1f} ms)")
    if "error" in lambda128:
        print(f"48 MP JPEG at a 128 MB setting: failed ({lambda128['error']})")
    else:
        print(f"48 MP JPEG at a 128 MB setting: whole-process peak RSS {lambda128['peak_mb']:.1f} MB "
              f"(output {lambda128['output_size'][0]}x{lambda128['output_size'][1]})")

    print()
    print("Targets:")
    h24, p24, v24 = (get("JPEG 24 MP", i, "ms") for i in IMPLEMENTATIONS)
    m24, v24m = get("JPEG 24 MP", "handler", "peak_mb"), get("JPEG 24 MP", "vips", "peak_mb")

    def verdict(ok: bool | None) -> str:
        return "n/a (libvips not available)" if ok is None else ("met" if ok else "NOT met")

    print(f"  24 MP JPEG no slower than libvips:      {verdict(None if v24 is None else h24 <= v24)}"
          f" ({number(h24)} vs {number(v24)} ms)")
    print(f"  24 MP JPEG no more memory than libvips:  {verdict(None if v24m is None else m24 <= v24m)}"
          f" ({number(m24)} vs {number(v24m)} MB)")
    print(f"  24 MP JPEG at least 2x faster than plain: {verdict(p24 is not None and h24 * 2 <= p24)}"
          f" ({ratio(p24, h24)})")
    ok128 = "error" not in lambda128 and lambda128["peak_mb"] < 128
    print(f"  48 MP JPEG within 128 MB:                {verdict(ok128)}")
    print(f"  import at most 50 ms beyond boto3+PIL:   {verdict(total_ms - base_ms <= 50)} ({total_ms - base_ms:+.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
