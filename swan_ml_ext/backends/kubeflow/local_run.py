"""One kfp.local run of a compiled swan-ml pipeline, as its own process (never inside the
server): the embedded engine starts it as a supervised local process.

    python local_run.py --pipeline pipeline.yaml --arguments arguments.json --pipeline-root DIR

kfp.local with the SubprocessRunner, use_venv=False: the component runs in this interpreter.
A pipeline whose component would pip-install anything is refused (with use_venv=False it would
install into this interpreter, the server's). Exit status: 0 the run succeeded, 1 it failed,
2 it could not start. The component's outputs stay under DIR/<pipeline>-<timestamp>/. SIGTERM
does not stop this process: it reaches the component too, which ends the run; this process
then ends as for a failed run.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
from typing import Any

PIP_WORDS = ("pip install", "ensurepip")


def _keep_arguments(handler: Any) -> None:
    """kfp.local (2.17.3) replaces the substring 'python3' with the interpreter's path in
    every element of the task's command line, arguments included: a parameter value
    'python3-word' or the kernel name 'python3' would reach the component rewritten. Rewrite
    only the command that starts the executor (up to the shell script) and pass the rest (the
    component's source and the executor input with the arguments) untouched."""
    original = getattr(handler, "replace_python_executable", None)
    if original is None:  # a kfp without the rewriting
        return

    def replace(full_command: list[str], new_executable: str) -> list[str]:
        for i, part in enumerate(full_command):
            if '"$program_path/ephemeral_component.py"' in part and '"$@"' in part:
                head = original(full_command[: i + 1], new_executable)
                return head + list(full_command[i + 1 :])
        return original(full_command, new_executable)

    handler.replace_python_executable = replace


def _installs_packages(pipeline_file: str) -> bool:
    """Does any component's command pip-install? (A text search: the compiled YAML holds the
    commands verbatim, and our component's own code says neither word.)"""
    with open(pipeline_file) as f:
        text = f.read()
    return any(w in text for w in PIP_WORDS)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pipeline", required=True, help="compiled pipeline (IR YAML)")
    ap.add_argument("--arguments", required=True, help="JSON object: the pipeline's inputs")
    ap.add_argument("--pipeline-root", required=True, help="where kfp.local writes outputs")
    args = ap.parse_args(argv)
    try:
        from kfp import components, local
        from kfp.local import subprocess_task_handler
    except ImportError as e:
        print(f"[swan-ml] kfp is not installed here: {e}", file=sys.stderr, flush=True)
        return 2
    if _installs_packages(args.pipeline):
        print(
            "[swan-ml] refused: the pipeline's component installs packages, which kfp.local"
            " would do into this interpreter; compile it without packages for embedded runs",
            file=sys.stderr,
            flush=True,
        )
        return 2
    with open(args.arguments) as f:
        arguments = json.load(f)
    _keep_arguments(subprocess_task_handler)
    # A cancel signals the whole process group: the component ends its run cleanly on SIGTERM;
    # this process relays its output until it has, then removes its own temporary folder.
    signal.signal(signal.SIGTERM, lambda *_: None)
    with tempfile.TemporaryDirectory(prefix="swan-ml-kfp-workspace-") as workspace:
        local.init(
            runner=local.SubprocessRunner(use_venv=False),
            pipeline_root=args.pipeline_root,
            workspace_root=workspace,
            raise_on_error=True,
        )
        pipeline = components.load_component_from_file(args.pipeline)
        try:
            pipeline(**arguments)
        except Exception as e:  # kfp.local raises RuntimeError when a task fails
            print(f"[swan-ml] the kfp.local run failed: {e}", file=sys.stderr, flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
