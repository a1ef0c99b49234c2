"""The command line: ``python -m walkthrough …`` (also installed as ``walkthrough``).

Every error a user can fix ends as one line on stderr and a non-zero exit;
nothing is half-done when a command refuses its input.
"""

from __future__ import annotations

import walkthrough.lean_imports  # noqa: F401 - first: papermill's import of jsonschema stays light

import argparse
import json
import sys
import time
from typing import Sequence

from walkthrough import aws
from walkthrough.config import DEFAULT_EMULATOR_PORT, Settings
from walkthrough.diagnose import explain
from walkthrough.errors import WalkthroughError


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
    run.add_argument("--yes", action="store_true",
                     help="target aws: create resources in your account without asking (passes confirm=True)")

    down = commands.add_parser("down", help="tear the pipeline down (local: runs 99_cleanup; aws: finds it by tags and names)")
    _add_target(down)
    down.add_argument("--output", default="build/notebooks", help="folder for the executed copy")

    plan = commands.add_parser("plan", help="list what a run would create and roughly what it costs (creates nothing)")
    _add_target(plan)

    reprocess = commands.add_parser("reprocess", help="run the function again over the images in the raw bucket, "
                                    "then invalidate the processed images that changed")
    _add_target(reprocess)
    reprocess.add_argument("--prefix", default="", help="only the source keys that start with this (default: all)")
    reprocess.add_argument("--no-invalidate", action="store_true", help="leave CloudFront's cache alone")

    template = commands.add_parser("template", help="print the pipeline as one CloudFormation template (YAML)")
    _add_target(template)
    _add_stack_options(template)
    template.add_argument("--output", metavar="FILE", help="write it to FILE instead of printing it")
    template.add_argument("--artifacts", metavar="DIR",
                          help="write the function's and layer's zips to DIR and name them by path (for `aws cloudformation package`)")

    deploy = commands.add_parser("deploy", help="deploy the pipeline as one CloudFormation stack (the same resources as the notebooks)")
    _add_target(deploy)
    _add_stack_options(deploy)
    deploy.add_argument("--yes", action="store_true", help="target aws: create the stack without asking")
    return parser


def _add_stack_options(parser: argparse.ArgumentParser) -> None:
    from walkthrough import iam, layer

    parser.add_argument("--prefix", default="", help="put PREFIX- in front of every name, to stand beside the notebooks' pipeline")
    parser.add_argument("--pillow-layer", choices=layer.CHOICES, default=None,
                        help="as notebook 04's pillow_layer (default: local on the emulator, klayers on AWS)")
    parser.add_argument("--policy", choices=iam.POLICY_CHOICES, default="least-privilege", help="the role's permissions (as notebook 03)")
    parser.add_argument("--no-api", action="store_true", help="leave out the optional API Gateway trigger (notebook 08)")


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", choices=("local", "aws"), default=None, help="local (the emulator, default) or aws")
    parser.add_argument("--region", default=None, help="AWS region (default us-east-1)")
    parser.add_argument("--run-name", default=None,
                        help="the walkthrough:run tag of what is created (default WALKTHROUGH_RUN_NAME or 'default')")
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
            print(f"running at {info.endpoint} (pid {info.pid}, up {uptime:.0f} s); log: {info.log_file}; key: {lifecycle.keys_file(port)}")
            health = lifecycle.health(port) or {}
            for runtime, serving in sorted((health.get("runtimes") or {}).items()):
                print(serving.get("warning") or f"{runtime}: Python {serving['python']} ({serving['path']})")
            sandbox = health.get("sandbox")
            if sandbox:
                print("functions run in Lambda's filesystem (bubblewrap)" if sandbox == "bubblewrap" else sandbox)
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
    import os

    if args.run_name:
        os.environ["WALKTHROUGH_RUN_NAME"] = args.run_name  # the kernels tag with the same run name
    settings = Settings.from_env(target=args.target, region=args.region, emulator_port=args.port, run_name=args.run_name)
    parameters: dict[str, object] = {"target": settings.target, "region": settings.region}
    for name, value in getattr(args, "parameter", []):
        parameters[name] = _parameter_value(value)
    return settings, parameters


def _show_target(settings: Settings) -> None:
    """Which account and region, before anything happens there."""
    from walkthrough import environment

    info = environment.describe_target(settings)
    print(f"Target: AWS account {info['account']} ({info['caller']}), region {info['region']}, "
          f"endpoint {info['endpoint']}; tags {info['tags']}.")


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
    notebooks = runner.select(runner.numbered_notebooks(), args.start, args.end)
    if settings.is_local:
        from walkthrough.emulator import lifecycle

        info = lifecycle.ensure_running(settings.emulator_port)
        os.environ["WALKTHROUGH_EMULATOR_PORT"] = str(info.port)  # the kernels find the same emulator
    else:
        from walkthrough import safety

        _show_target(settings)
        if not (args.yes or parameters.get("confirm") is True):
            safety.require_confirmation(settings)  # asks once in a terminal; otherwise stops here, naming --yes
        parameters["confirm"] = True
    print(f"Running {len(notebooks)} notebooks on target '{settings.target}' in {settings.region} …")
    rows = runner.run_notebooks(notebooks, parameters, Path(args.output))
    for row in rows:
        print(f"  {row['notebook']:<22} {row['seconds']:>6.1f} s")
    print(f"Done. Executed copies: {args.output}/")
    _print_addresses(settings)
    return 0


def _print_addresses(settings: Settings) -> None:
    """Where to look at the result: the processed photo and the index page through CloudFront, the API."""
    from walkthrough import api, cdn

    try:
        distribution = cdn.find_distribution_summary(settings)
    except Exception:  # noqa: BLE001 - the run stopped before step 6: nothing to show
        return
    print(f"CloudFront: {cdn.url_for(settings, distribution, '')}  (index.html)")
    print(f"            {cdn.url_for(settings, distribution, 'processed-photo.jpg')}  (the processed photo)")
    found = api.find_api(settings)
    if found:
        print(f"API:        POST {api.invoke_url(settings, found['id'])}  with {{\"key\": \"photo.jpg\"}}")


def _down(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from walkthrough import runner

    settings, parameters = _notebook_parameters(args)
    if not settings.is_local:
        return _down_aws(settings)
    os.environ["WALKTHROUGH_EMULATOR_PORT"] = str(settings.emulator_port)
    cleanup = [n for n in runner.numbered_notebooks() if n.stem == runner.CLEANUP]
    runner.run_notebooks(cleanup, parameters, Path(args.output), progress=False)
    from walkthrough.teardown import remaining

    left = remaining(settings)
    print("Everything the walkthrough created is gone." if not left else "Still there: " + ", ".join(left))
    return 0 if not left else 1


_DONE = ("deleted", "cleared")
_NOTHING = ("already gone", "nothing to delete")


def _down_aws(settings: Settings) -> int:
    """Tear down on AWS in this process: tagged and named resources, dependents first, then what is left."""
    from walkthrough import teardown

    settings = aws.resolve(settings)
    _show_target(settings)
    tagged = teardown.discover(settings)
    print(f"Found {len(tagged)} resource(s) tagged walkthrough:run={settings.run_name}; removing the run's CloudFormation "
          "stacks, then them and the walkthrough's named resources (a CloudFront distribution takes minutes to disable) …",
          flush=True)
    rows = teardown.teardown(settings, tagged)
    removed = [r for r in rows if r["result"].startswith(_DONE)]
    failed = [r for r in rows if not r["result"].startswith(_DONE + _NOTHING)]
    for row in removed:
        print(f"  removed     {row['resource']}" + (f" ({row['result']})" if row["result"] != "deleted" else ""))
    for row in failed:
        print(f"  NOT REMOVED {row['resource']}: {row['result']}")
    left = teardown.remaining(settings)
    if left:
        print("Still there: " + ", ".join(left) + ". Check the CloudFront, S3, Lambda, DynamoDB, API Gateway and IAM "
              f"consoles, and Resource Groups → Tag Editor for the tag walkthrough:run={settings.run_name}.")
    elif not failed:
        print("Everything the walkthrough created is gone.")
    return 0 if not left and not failed else 1


def _plan(args: argparse.Namespace) -> int:
    from walkthrough import plan, show

    settings, _ = _notebook_parameters(args)
    result = plan.plan(aws.resolve(settings))
    print("  ".join(f"{k}: {v}" for k, v in result["where"].items()))
    print(repr(show.Table(result["resources"])))
    print(f"Cost: {result['total']}.")
    if not settings.is_local:
        print("CloudFront takes about 5-15 minutes to deploy, and as long to disable before deletion. "
              "Remove everything with `python -m walkthrough down --target aws`.")
    print("Nothing was created.")
    return 0


def _reprocess(args: argparse.Namespace) -> int:
    from walkthrough import reprocess, show

    settings, _ = _notebook_parameters(args)
    settings = aws.resolve(settings)
    if not settings.is_local:
        _show_target(settings)
    result = reprocess.reprocess(settings, prefix=args.prefix, invalidate=not args.no_invalidate)
    print(repr(show.Table(result.rows)))
    print("  ".join(f"{k}: {v}" for k, v in result.summary().items()) + f"  ({result.seconds:.1f} s)")
    return 0 if all(r["outcome"] not in ("error", "unknown") for r in result.rows) else 1


def _stack_target(args: argparse.Namespace) -> Settings:
    """The settings a stack command works on: the emulator running (locally), the account known."""
    from walkthrough import template

    template.check_prefix(args.prefix)  # before anything starts
    settings, _ = _notebook_parameters(args)
    if settings.is_local:
        from walkthrough.emulator import lifecycle

        lifecycle.ensure_running(settings.emulator_port)
    return aws.resolve(settings)


def _template(args: argparse.Namespace) -> int:
    from pathlib import Path

    from walkthrough import stack, template

    settings = _stack_target(args)
    output = Path(args.output) if args.output else None
    locate = None
    if args.artifacts:
        locate = template.in_folder(Path(args.artifacts), (output.parent if output else Path.cwd()))
    rendered = stack.render(settings, args.prefix, args.pillow_layer, args.policy, with_api=not args.no_api, locate=locate)
    if output is None:
        sys.stdout.write(rendered.text)
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(rendered.text)
    where = (f"zips in {args.artifacts}/ (`aws cloudformation package --template-file {output} --s3-bucket <bucket> "
             "--output-template-file packaged.yaml` uploads them)") if args.artifacts else \
        f"code in s3://{stack.artifacts_bucket(settings)}/{rendered.stack}/ (`python -m walkthrough deploy` uploads it)"
    print(f"Wrote {output}: stack {rendered.stack}, {len(rendered.template['Resources'])} resources; {where}.")
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from walkthrough import safety, show, stack

    settings = _stack_target(args)
    if not settings.is_local:
        _show_target(settings)
    rendered = stack.render(settings, args.prefix, args.pillow_layer, args.policy, with_api=not args.no_api)
    print(repr(show.Table(stack.plan_rows(settings, rendered))))
    if not settings.is_local:
        if args.yes:
            settings = settings.with_(confirmed=True, account_id=settings.account_id)
        else:
            safety.require_confirmation(settings)  # asks once in a terminal; otherwise stops here, naming --yes
        print("CloudFront takes about 5-15 minutes to deploy the distribution; CloudFormation waits for it.", flush=True)
    result = stack.deploy(settings, rendered=rendered)
    print(f"Stack {result['stack']}: {result['status']} in {result['seconds']:.1f} s.")
    for what, url in stack.urls(settings, result["outputs"]).items():
        print(f"  {what + ':':<11} {url}")
    print(f"Upload to s3://{result['outputs'].get('RawBucketName')}; remove it all with "
          f"`python -m walkthrough down{'' if settings.is_local else ' --target aws'}`.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"emulator": _emulator, "demo": _demo, "run": _run, "down": _down, "plan": _plan, "reprocess": _reprocess,
                "template": _template, "deploy": _deploy}
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
