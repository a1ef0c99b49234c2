"""Benchmark the pipeline as one CloudFormation stack on the local emulator: render, deploy, redeploy, delete.

    .venv/bin/python benchmarks/bench_stack.py            # 5 deploy/delete cycles
    .venv/bin/python benchmarks/bench_stack.py --runs 2

On a fresh emulator (free port, state in a temporary folder), with the
tutorial's template (16 resources, the Pillow layer built into the stack):

1. ``stack.render``: the template and its zips (the Pillow layer zip is
   deflated once per process, then reused);
2. ``stack.deploy`` from nothing (artifacts uploaded, change set, execution,
   the wait, ``index.html``); then the same template again ("unchanged"); then
   ``stack.delete`` (buckets emptied, stack deleted, artifacts removed);
3. the same through the AWS CLI, as a user deploys: ``aws cloudformation
   deploy`` and ``delete-stack`` + ``wait stack-delete-complete`` (each ``aws``
   command also spends about 2 s starting Python and botocore).

The first deploy of an emulator's life also installs the CloudFormation
handlers (moto's CloudFormation imports most of moto: about 1 s). These are
measurements, not tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ["WALKTHROUGH_STATE_DIR"] = tempfile.mkdtemp(prefix="bench-stack-")
    from walkthrough import Settings, aws, stack, template
    from walkthrough.emulator import lifecycle

    port = lifecycle.free_port()
    info = lifecycle.start(port)
    try:
        settings = aws.resolve(Settings.from_env(emulator_port=port))
        timings: dict[str, list[float]] = {"render": [], "deploy": [], "deploy (unchanged)": [], "delete": []}
        for run in range(args.runs):
            started = time.perf_counter()
            rendered = stack.render(settings, "bench")
            timings["render"].append(time.perf_counter() - started)
            for label in ("deploy", "deploy (unchanged)"):
                started = time.perf_counter()
                stack.deploy(settings, rendered=rendered, progress=False)
                timings[label].append(time.perf_counter() - started)
            started = time.perf_counter()
            stack.delete(settings, rendered.stack, progress=False)
            timings["delete"].append(time.perf_counter() - started)
        import moto

        print(f"stack.* on the emulator (moto {moto.__version__}), {args.runs} runs, {len(rendered.template['Resources'])} resources:")
        for label, values in timings.items():
            print(f"  {label:<20} median {statistics.median(values):5.2f} s   first {values[0]:5.2f} s   max {max(values):5.2f} s")

        folder = Path(tempfile.mkdtemp(prefix="bench-stack-cli-"))
        source = folder / "pipeline.yaml"
        made = stack.render(settings, "cli", locate=template.in_folder(folder / "build", folder))
        source.write_text(made.text)
        env = {**os.environ, "AWS_ENDPOINT_URL": info.endpoint, "AWS_DEFAULT_REGION": settings.region,
               **lifecycle.keys(port).environment()}
        env.pop("AWS_SESSION_TOKEN", None)
        env.pop("AWS_PROFILE", None)

        def cli(*words: str) -> float:
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "awscli", *words], check=True, capture_output=True, env=env, cwd=folder)
            return time.perf_counter() - started

        cli("s3", "mb", "s3://cli-artifacts")
        package = cli("cloudformation", "package", "--template-file", str(source), "--s3-bucket", "cli-artifacts",
                      "--output-template-file", str(folder / "packaged.yaml"))
        deploy = cli("cloudformation", "deploy", "--template-file", str(folder / "packaged.yaml"), "--stack-name", "cli-walkthrough",
                     "--capabilities", "CAPABILITY_NAMED_IAM")
        # nothing was uploaded to the stack's buckets: delete-stack succeeds at once
        delete = cli("cloudformation", "delete-stack", "--stack-name", "cli-walkthrough")
        wait = cli("cloudformation", "wait", "stack-delete-complete", "--stack-name", "cli-walkthrough")
        print("AWS CLI on the emulator (each command includes ~2 s of start-up):")
        print(f"  package {package:5.2f} s   deploy {deploy:5.2f} s   delete-stack {delete:5.2f} s + wait {wait:5.2f} s")
    finally:
        lifecycle.stop(port)


if __name__ == "__main__":
    main()
