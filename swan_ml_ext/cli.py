"""`swan-ml`: the job lifecycle from a terminal, plus `swan-ml pool` for the personal pool."""

from __future__ import annotations

import json
import sys
from typing import Any

from . import pool
from .check_commands import dry_run, submit_checked
from .client import ClientError, SwanMLClient
from .commands import ParserExit, build_parser, run_verb
from .options_commands import UsageError
from .spec_commands import submit_spec, to_server_paths
from .sweep_commands import cli_sweep
from .view_commands import follow_logs, progress_line, wait

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser("swan-ml", with_pool=True)
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        print(e, file=sys.stderr)
        return EXIT_USAGE
    except ParserExit as e:
        return e.status
    if args.verb is None:
        parser.print_help()
        return EXIT_USAGE
    if args.verb == "pool":
        return pool.run(args.action, check=False).returncode
    try:
        return run(args, SwanMLClient.connect(args.url, args.token))
    except UsageError as e:
        print(f"swan-ml: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ClientError as e:
        print(f"swan-ml: {e.message}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def run(args: Any, client: SwanMLClient) -> int:
    out = sys.stdout

    def emit(data: Any, text: str) -> None:
        print(json.dumps(data, indent=1) if args.json else text, file=out)

    verb = args.verb
    if verb == "sweep":
        return cli_sweep(args, client, out)
    if verb == "submit":
        if not args.notebook:
            raise UsageError("submit needs a NOTEBOOK path (relative to the current folder)")
        # malformed options fail before any request; resources are checked against the
        # chosen backend's schema before the job is sent (the server checks them again)
        spec = submit_spec(args, args.notebook, client)
        to_server_paths(spec, client)
        said = sys.stderr if args.json else out  # what is sent; stdout stays JSON with --json
        if args.dry_run:
            result = dry_run(args, spec, client, said)
            emit(result.data, result.text)
            return EXIT_OK
        job = submit_checked(args, spec, client, said)  # refused unless --force if it cannot run
        if not args.wait:
            emit(job, f"submitted {progress_line(job)}")
            return EXIT_OK
        if not args.json:
            print(f"submitted {job['id']}", file=out)
        job = wait(
            client,
            job["id"],
            lambda j: None if args.json else print(progress_line(j), file=out, flush=True),
        )
        if args.json:
            emit(job, "")
        elif job["outputs"].get("notebook"):
            print(f"executed notebook: {job['outputs']['notebook']}", file=out)
        return EXIT_OK if job["state"] == "completed" else EXIT_FAILED
    if verb == "logs" and args.follow and not args.json:
        follow_logs(client, args.id, out, args.tail)
        return EXIT_OK
    result = run_verb(args, client)
    emit(result.data, result.text)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
