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
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"emulator": _emulator, "demo": _demo}
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
