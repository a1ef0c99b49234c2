"""The command line: ``python -m walkthrough …`` (also installed as ``walkthrough``).

Every error a user can fix ends as one line on stderr and a non-zero exit;
nothing is half-done when a command refuses its input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Sequence

from walkthrough.config import DEFAULT_EMULATOR_PORT, Settings
from walkthrough.errors import WalkthroughError, explain


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line, like every other error here."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _add_port(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=None, help=f"emulator port (default: WALKTHROUGH_EMULATOR_PORT or {DEFAULT_EMULATOR_PORT})")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="walkthrough", description="Automated image processing and content delivery on AWS, step by step.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)

    emulator = commands.add_parser("emulator", help="manage the local AWS emulator")
    actions = emulator.add_subparsers(dest="action", required=True, parser_class=_OneLineParser)
    start = actions.add_parser("start", help="start it in the background (or reuse the running one)")
    _add_port(start)
    start.add_argument("--concurrency", type=int, default=None, help="asynchronous invocations run at once (default 4)")
    _add_port(actions.add_parser("stop", help="stop it and its Lambda workers"))
    status = actions.add_parser("status", help="is it running, where, and where its log is")
    _add_port(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    env = actions.add_parser("env", help='print export lines: eval "$(python -m walkthrough emulator env)"')
    _add_port(env)
    env.add_argument("--region", default=None, help="region for the AWS CLI (default us-east-1)")

    demo = commands.add_parser("demo", help="deploy a tiny function on the emulator and show it running on an upload")
    _add_port(demo)

    run = commands.add_parser("run", help="run the numbered notebooks in order with papermill (all but 99_cleanup)")
    _add_target(run)
    run.add_argument("--from", dest="start", metavar="NN", help="first notebook number, e.g. 03")
    run.add_argument("--to", dest="end", metavar="NN", help="last notebook number, e.g. 07")
    run.add_argument("--output", default="build/notebooks", help="folder for the executed copies (default build/notebooks)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="a notebook parameter, as papermill spells it (repeatable)")

    down = commands.add_parser("down", help="tear the pipeline down (runs 99_cleanup)")
    _add_target(down)
    down.add_argument("--output", default="build/notebooks", help="folder for the executed copy")
    return parser


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", choices=("local", "aws"), default=None, help="local (the emulator, default) or aws")
    parser.add_argument("--region", default=None, help="AWS region (default us-east-1)")
    _add_port(parser)


def _port(args: argparse.Namespace) -> int:
    if args.port is not None:
        if not 0 < args.port < 65536:
            raise WalkthroughError(f"Port {args.port} is not a TCP port (1-65535).")
        return args.port
    return Settings.from_env().emulator_port


def _emulator(args: argparse.Namespace) -> int:
    from walkthrough.emulator import lifecycle

    port = _port(args)
    if args.action == "start":
        info = lifecycle.start(port, args.concurrency)
        verb = "already running" if info.reused else "started"
        print(f"Emulator {verb} at {info.endpoint} (pid {info.pid}); log: {info.log_file}")
        print(f'Use it from a shell: eval "$(python -m walkthrough emulator env{"" if port == DEFAULT_EMULATOR_PORT else f" --port {port}"})"')
    elif args.action == "stop":
        info = lifecycle.stop(port)
        print(f"Emulator on port {port} stopped (pid {info.pid}); its state is gone.")
    elif args.action == "status":
        info = lifecycle.status(port)
        if args.json:
            health = lifecycle.health(port) if info else None
            print(json.dumps({"running": bool(info), "port": port, **({"endpoint": info.endpoint, "pid": info.pid, "log_file": info.log_file, **(health or {})} if info else {})}))
        elif info:
            uptime = time.time() - info.started_at
            print(f"running at {info.endpoint} (pid {info.pid}, up {uptime:.0f} s); log: {info.log_file}")
        else:
            print(f"not running on port {port} (start it with `python -m walkthrough emulator start`)")
        return 0 if info else 3
    elif args.action == "env":
        info = lifecycle.ensure_running(port)
        region = args.region or Settings.from_env().region
        print("\n".join(info.export_lines(region)))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from walkthrough.demo import FUNCTION, UPLOADS, run_demo

    settings = Settings.from_env(emulator_port=_port(args))
    print(f"Deploying the function '{FUNCTION}' and uploading a file to s3://{UPLOADS} on the local emulator …")
    result = run_demo(settings)
    print(f"The upload triggered the function; it wrote '{result.result_key}' ({result.result_body!r}) in {result.seconds:.2f} s.")
    print(f"Its log in CloudWatch Logs (/aws/lambda/{FUNCTION}):")
    for line in result.log_lines:
        print("  " + line)
    return 0


def _notebook_parameters(args: argparse.Namespace) -> tuple[Settings, dict[str, object]]:
    settings = Settings.from_env(target=args.target, region=args.region, emulator_port=args.port)
    parameters: dict[str, object] = {"target": settings.target, "region": settings.region}
    for name, value in getattr(args, "parameter", []):
        parameters[name] = _parameter_value(value)
    return settings, parameters


def _parameter_value(text: str) -> object:
    """papermill's -p typing: numbers, booleans and None become Python values, the rest stays text."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(text, text)


def _run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from walkthrough import runner

    settings, parameters = _notebook_parameters(args)
    if settings.is_local:
        from walkthrough.emulator import lifecycle

        info = lifecycle.ensure_running(settings.emulator_port)
        os.environ["WALKTHROUGH_EMULATOR_PORT"] = str(info.port)  # the kernels find the same emulator
    notebooks = runner.select(runner.numbered_notebooks(), args.start, args.end)
    print(f"Running {len(notebooks)} notebooks on target '{settings.target}' in {settings.region} …")
    rows = runner.run_notebooks(notebooks, parameters, Path(args.output))
    for row in rows:
        print(f"  {row['notebook']:<22} {row['seconds']:>6.1f} s")
    print(f"Done. Executed copies: {args.output}/")
    return 0


def _down(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from walkthrough import runner

    settings, parameters = _notebook_parameters(args)
    if settings.is_local:
        os.environ["WALKTHROUGH_EMULATOR_PORT"] = str(settings.emulator_port)
    cleanup = [n for n in runner.numbered_notebooks() if n.stem == runner.CLEANUP]
    runner.run_notebooks(cleanup, parameters, Path(args.output), progress=False)
    from walkthrough.teardown import remaining

    left = remaining(settings)
    print("Everything the walkthrough created is gone." if not left else "Still there: " + ", ".join(left))
    return 0 if not left else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"emulator": _emulator, "demo": _demo, "run": _run, "down": _down}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        friendly = explain(exc)
        if friendly is None:
            raise
        print(f"walkthrough: error: {friendly}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
