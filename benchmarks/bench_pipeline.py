"""Benchmark the whole pipeline on the local emulator: latency, throughput, cold and warm, the notebooks.

    .venv/bin/python benchmarks/bench_pipeline.py            # full samples (a few minutes)
    .venv/bin/python benchmarks/bench_pipeline.py --quick    # fewer samples

Every part runs on a fresh emulator on a free port (state folder in a temporary
directory), with the tutorial's real function, Pillow layer and least-privilege
role (enforced), ``MAX_DIMENSION`` 1024:

1. latency: upload-to-metadata time per image, one upload at a time, for 1 MP
   and 12 MP photos (generated like bench_handler.py's): median and 95th
   percentile. Measured as the tutorial's ``pipeline.process`` sees it (upload,
   then poll the metadata item every 50 ms).
2. throughput: a batch of 1 MP photos uploaded at once, with the emulator's
   concurrency at 1, 2 and 4 (a fresh emulator per setting): images per second
   from the first upload until every item is recorded.
3. cold and warm invocations through the Invoke API, for a trivial function
   and the image function (a direct ``{"bucket", "key"}`` call on a 1 MP
   photo): the REPORT line's Init Duration and Duration against the client's
   wall time. "Added" is wall time minus the handler's Duration: what the
   emulator (and boto3, HTTP, moto) adds to an invocation.
4. the notebook sequence 00-08, run by papermill on a fresh emulator
   (``walkthrough.runner.run_notebooks``), per notebook and in total.

Goals: the emulator adds at most 50 ms to a warm invocation beyond the
handler's own time; the notebook sequence runs in under a minute on a 2-core
machine. These are measurements, not tests: nothing here fails the build.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_handler import make_photo  # noqa: E402

TRIVIAL = "def lambda_handler(event, context):\n    return {'ok': True}\n"
_REPORT = re.compile(r"\tDuration: ([\d.]+) ms")
_INIT = re.compile(r"Init Duration: ([\d.]+) ms")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = (len(ordered) - 1) * p / 100
    low = int(index)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (index - low)


def photo_bytes(megapixels: float, seed: int) -> bytes:
    buffer = io.BytesIO()
    make_photo(megapixels, seed).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


class Emulator:
    """A fresh emulator for one measurement, and the tutorial's pipeline on it."""

    def __init__(self, concurrency: int | None = None) -> None:
        from walkthrough import Settings
        from walkthrough.emulator import lifecycle

        self.lifecycle = lifecycle
        self.port = lifecycle.free_port()
        self.info = lifecycle.start(self.port, concurrency)
        suffix = uuid.uuid4().hex[:6]
        self.settings = Settings.from_env(target="local", endpoint_url=self.info.endpoint, region="us-east-1").with_(
            raw_bucket=f"bench-raw-{suffix}", processed_bucket=f"bench-processed-{suffix}",
        )

    def pipeline(self) -> Any:
        from walkthrough import sequence

        sequence.ensure_before(self.settings, 6, max_dimension=1024)
        return self.settings

    def idle(self, timeout: float = 600) -> None:
        self.lifecycle.control(self.port, f"_walkthrough/idle?timeout={timeout}", timeout=timeout + 5)

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.info.endpoint}/_walkthrough/health", timeout=10) as r:
            return json.loads(r.read())

    def close(self) -> None:
        self.lifecycle.stop(self.port)


# --------------------------------------------------------------------------------------- 1. latency


def latency(samples: int) -> list[dict[str, Any]]:
    from walkthrough import pipeline

    rows = []
    emulator = Emulator()
    try:
        settings = emulator.pipeline()
        with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as folder:
            for megapixels in (1, 12):
                path = Path(folder) / f"photo-{megapixels}mp.jpg"
                path.write_bytes(photo_bytes(megapixels, seed=megapixels))
                pipeline.process(settings, path, key=f"warmup-{megapixels}.jpg")  # a warm worker, as in steady use
                times = []
                for n in range(samples):
                    item = pipeline.wait_for_result(settings, pipeline.upload(settings, path, key=f"{megapixels}mp/{n:03d}.jpg"), progress=False)
                    assert item["status"] == "processed", item
                    times.append(item["latency_s"] * 1000)
                rows.append({"case": f"JPEG {megapixels} MP", "bytes": path.stat().st_size, "n": samples,
                             "median": statistics.median(times), "p95": percentile(times, 95), "min": min(times)})
                print(f"  measured latency {rows[-1]['case']}: median {rows[-1]['median']:.0f} ms", flush=True)
    finally:
        emulator.close()
    return rows


# --------------------------------------------------------------------------------------- 2. throughput


def throughput(images: int) -> list[dict[str, Any]]:
    from walkthrough import aws

    data = [photo_bytes(1, seed=100 + i % 8) for i in range(8)]
    rows = []
    for concurrency in (1, 2, 4):
        emulator = Emulator(concurrency)
        try:
            settings = emulator.pipeline()
            s3 = aws.client(settings, "s3")
            s3.put_object(Bucket=settings.raw_bucket, Key="warmup.jpg", Body=data[0])
            emulator.idle()
            started = time.perf_counter()
            with ThreadPoolExecutor(8) as uploaders:
                list(uploaders.map(lambda i: s3.put_object(Bucket=settings.raw_bucket, Key=f"batch/{i:03d}.jpg", Body=data[i % len(data)]), range(images)))
            emulator.idle()
            seconds = time.perf_counter() - started
            items = aws.client(settings, "dynamodb").scan(TableName=settings.table_name, Select="COUNT")["Count"]
            health = emulator.health()
            rows.append({"concurrency": concurrency, "images": images, "seconds": seconds, "per_s": images / seconds,
                         "items": items - 1, "max_running": health["max_concurrent_invocations"]})
            print(f"  measured throughput at concurrency {concurrency}: {rows[-1]['per_s']:.2f} images/s", flush=True)
        finally:
            emulator.close()
    return rows


# --------------------------------------------------------------------------------------- 3. cold and warm


def _invoke(lam: Any, name: str, payload: dict[str, Any]) -> tuple[float, float, float | None]:
    started = time.perf_counter()
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), LogType="Tail")
    wall = (time.perf_counter() - started) * 1000
    response["Payload"].read()
    assert "FunctionError" not in response, response
    tail = base64.b64decode(response["LogResult"]).decode()
    for line in tail.splitlines():
        if line.startswith("REPORT"):  # the Text log format
            init = _INIT.search(line)
            return wall, float(_REPORT.search(line).group(1)), float(init.group(1)) if init else None
        if line.startswith("{") and '"platform.report"' in line:  # the JSON log format
            metrics = json.loads(line)["record"]["metrics"]
            return wall, float(metrics["durationMs"]), metrics.get("initDurationMs")
    raise AssertionError(f"no REPORT line in the log tail: {tail[-300:]}")


def cold_and_warm(cold_samples: int, warm_samples: int) -> list[dict[str, Any]]:
    from tests.emulator_helpers import TRUST, zip_files
    from walkthrough import aws

    emulator = Emulator()
    rows = []
    try:
        settings = emulator.pipeline()
        lam, iam = aws.client(settings, "lambda"), aws.client(settings, "iam")
        role = iam.create_role(RoleName="bench-trivial", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        iam.put_role_policy(RoleName="bench-trivial", PolicyName="logs", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}]}))
        lam.create_function(FunctionName="bench-trivial", Runtime="python3.12", Role=role, Handler="lambda_function.lambda_handler",
                            Code={"ZipFile": zip_files({"lambda_function.py": TRIVIAL})}, Timeout=10)
        aws.client(settings, "s3").put_object(Bucket=settings.raw_bucket, Key="direct.jpg", Body=photo_bytes(1, seed=7))
        emulator.idle()  # the upload's own (asynchronous) invocation is done
        cases = [("trivial", "bench-trivial", {}), ("image (1 MP)", settings.function_name, {"bucket": settings.raw_bucket, "key": "direct.jpg"})]
        for label, name, payload in cases:
            colds = []
            variables = lam.get_function_configuration(FunctionName=name).get("Environment", {}).get("Variables", {})
            for n in range(cold_samples):  # a configuration change retires the warm worker: the next call is cold
                lam.update_function_configuration(FunctionName=name, Environment={"Variables": {**variables, "BENCH_COLD": str(n)}})
                colds.append(_invoke(lam, name, payload))
            warms = [_invoke(lam, name, payload) for _ in range(warm_samples)]
            added = [wall - duration for wall, duration, _ in warms]
            rows.append({
                "case": label,
                "cold_wall": statistics.median(w for w, _, _ in colds),
                "init": statistics.median(i for _, _, i in colds if i is not None),
                "cold_duration": statistics.median(d for _, d, _ in colds),
                "warm_wall": statistics.median(w for w, _, _ in warms),
                "warm_duration": statistics.median(d for _, d, _ in warms),
                "added_median": statistics.median(added),
                "added_p95": percentile(added, 95),
            })
            print(f"  measured cold/warm {label}: added {rows[-1]['added_median']:.1f} ms", flush=True)
    finally:
        emulator.close()
    return rows


# --------------------------------------------------------------------------------------- 4. the notebooks


def notebook_sequence() -> list[dict[str, Any]]:
    from walkthrough import runner

    emulator = Emulator()
    previous = os.environ.get("WALKTHROUGH_EMULATOR_PORT")
    os.environ["WALKTHROUGH_EMULATOR_PORT"] = str(emulator.port)
    try:
        notebooks = runner.select(runner.numbered_notebooks(), None, "08")
        with tempfile.TemporaryDirectory(prefix="bench-notebooks-") as folder:
            started = time.perf_counter()
            rows = runner.run_notebooks(notebooks, {"target": "local", "region": "us-east-1"}, Path(folder), progress=False)
            rows.append({"notebook": "total (00-08)", "seconds": time.perf_counter() - started})
    finally:
        emulator.close()
        if previous is None:
            os.environ.pop("WALKTHROUGH_EMULATOR_PORT", None)
        else:
            os.environ["WALKTHROUGH_EMULATOR_PORT"] = previous
    return rows


# --------------------------------------------------------------------------------------- driver


def machine() -> str:
    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = ""
    try:
        kib = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration):
        pass
    import moto
    import PIL

    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs ({model or 'unknown model'}){memory}; "
            f"Python {sys.version.split()[0]}, moto {moto.__version__}, Pillow {PIL.__version__}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (about a minute and a half)")
    parser.add_argument("--only", choices=("latency", "throughput", "invoke", "notebooks"), action="append", help="run only these parts")
    args = parser.parse_args()
    parts = set(args.only or ("latency", "throughput", "invoke", "notebooks"))
    state = tempfile.mkdtemp(prefix="bench-pipeline-state-")
    os.environ["WALKTHROUGH_STATE_DIR"] = state  # fresh emulators, their logs kept apart from the user's
    latency_n, batch, cold_n, warm_n = (5, 16, 2, 10) if args.quick else (20, 48, 5, 50)
    print(machine())
    print(f"samples: latency {latency_n} per size, throughput batches of {batch}, {cold_n} cold and {warm_n} warm invocations; "
          f"emulator logs in {state}", flush=True)

    lat = latency(latency_n) if "latency" in parts else []
    thr = throughput(batch) if "throughput" in parts else []
    inv = cold_and_warm(cold_n, warm_n) if "invoke" in parts else []
    nbs = notebook_sequence() if "notebooks" in parts else []

    if lat:
        print("\nUpload-to-metadata latency (one upload at a time, warm worker)")
        header = f"{'case':<12} {'file KB':>8} {'n':>3} | {'median ms':>9} {'p95 ms':>8} {'min ms':>7}"
        print(header + "\n" + "-" * len(header))
        for r in lat:
            print(f"{r['case']:<12} {r['bytes'] / 1024:>8.0f} {r['n']:>3} | {r['median']:>9.0f} {r['p95']:>8.0f} {r['min']:>7.0f}")
    if thr:
        print("\nThroughput (1 MP photos uploaded at once; a fresh emulator per concurrency setting)")
        header = f"{'concurrency':>11} {'images':>6} | {'seconds':>7} {'images/s':>8} | {'items':>5} {'max running':>11}"
        print(header + "\n" + "-" * len(header))
        for r in thr:
            print(f"{r['concurrency']:>11} {r['images']:>6} | {r['seconds']:>7.2f} {r['per_s']:>8.2f} | {r['items']:>5} {r['max_running']:>11}")
    if inv:
        print("\nCold and warm invocations (Invoke API; medians; 'added' = client wall time - REPORT Duration)")
        header = (f"{'function':<13} | {'cold wall':>9} {'init':>6} {'duration':>8} | {'warm wall':>9} {'duration':>8} | "
                  f"{'added med':>9} {'added p95':>9}")
        print(header + "\n" + "-" * len(header))
        for r in inv:
            print(f"{r['case']:<13} | {r['cold_wall']:>9.1f} {r['init']:>6.1f} {r['cold_duration']:>8.1f} | {r['warm_wall']:>9.1f} "
                  f"{r['warm_duration']:>8.1f} | {r['added_median']:>9.1f} {r['added_p95']:>9.1f}")
        print("(ms)")
    if nbs:
        print("\nNotebook sequence on a fresh emulator (papermill, one kernel per notebook)")
        for r in nbs:
            print(f"  {r['notebook']:<22} {r['seconds']:>6.1f} s")

    print("\nGoals:")
    if inv:
        worst = max(r["added_median"] for r in inv)
        print(f"  emulator adds at most 50 ms to a warm invocation: {'met' if worst <= 50 else 'NOT met'} (worst median {worst:.1f} ms)")
    if nbs:
        total = nbs[-1]["seconds"]
        print(f"  notebook sequence 00-08 under a minute:        {'met' if total < 60 else 'NOT met'} ({total:.1f} s on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
