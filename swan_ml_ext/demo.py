"""`make demo`: example notebooks + JupyterLab with the extension on the personal pool.

python -m swan_ml_ext.demo [--dir DIR] [--port PORT]

Spark needs nothing set up: the `local` profile runs Spark in the kernel (spark-local.ipynb)
and the `spark` batch backend runs spark-batch.ipynb as a driver on this machine.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat

EXAMPLES = {
    "train-on-gpu.ipynb": [
        ("parameters", "epochs = 200\nlearning_rate = 0.05\nlabel = 'demo'"),
        (
            None,
            "import os, socket\n"
            "print('host:', socket.gethostname())\n"
            "print('GPUs:', os.environ.get('CUDA_VISIBLE_DEVICES', 'none'))",
        ),
        (
            None,
            "import numpy as np\n"
            "rng = np.random.default_rng(0)\n"
            "x = rng.normal(size=(500, 3)); w_true = np.array([1.5, -2.0, 0.5])\n"
            "y = x @ w_true + 0.1 * rng.normal(size=500)\n"
            "w = np.zeros(3); losses = []\n"
            "for epoch in range(epochs):\n"
            "    grad = 2 * x.T @ (x @ w - y) / len(y)\n"
            "    w -= learning_rate * grad\n"
            "    losses.append(float(np.mean((x @ w - y) ** 2)))\n"
            "print(f'{label}: final loss {losses[-1]:.4f}, w = {np.round(w, 3)}')",
        ),
        (
            None,
            "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
            "plt.plot(losses); plt.yscale('log'); plt.xlabel('epoch'); plt.ylabel('loss')\n"
            "plt.savefig('loss.png', dpi=80)\nprint('saved loss.png')",
        ),
    ],
    "hello.ipynb": [
        ("parameters", "name = 'world'"),
        (None, "print(f'hello, {name}!')"),
    ],
    "spark-local.ipynb": [
        (
            "markdown",
            "# Spark in this kernel\n"
            "`%swan spark connect local` starts Spark here (`local[2]`, nothing to set up) and "
            "makes `spark` and `sc`. Open the **Spark** panel to follow the jobs of each cell; "
            "other profiles: `%swan spark connect standalone`, `connect`, ... "
            "(`GET swan-ml-ext/spark/profiles`).",
        ),
        (None, "%load_ext swan_ml_ext\n%swan spark connect local"),
        (
            None,
            "df = spark.range(1_000_000).selectExpr('id % 7 AS k', 'id AS v')\n"
            "df.groupBy('k').sum('v').orderBy('k').show()",
        ),
        (
            None,
            "# a few seconds long: 16 tasks of 0.5 s on 2 cores (watch the panel's progress bar)\n"
            "import time\n"
            "sc.parallelize(range(16), 16).map(lambda x: time.sleep(0.5) or x * x).sum()",
        ),
        (None, "%swan spark status"),
        (None, "%swan spark stop"),
    ],
    "spark-batch.ipynb": [
        (
            "markdown",
            "# A Spark batch job\n"
            "Submit with **Run on batch**, backend **Spark** (or "
            "`swan-ml submit spark-batch.ipynb --backend spark -p rows=5000000`): the job "
            "starts with `spark` made from the chosen profile. Run here, it connects itself.",
        ),
        ("parameters", "rows = 2_000_000"),
        (
            None,
            "if 'spark' not in globals():  # interactive: the batch backend made `spark` already\n"
            "    %load_ext swan_ml_ext\n"
            "    %swan spark connect local\n"
            "print('Spark', spark.version, 'master', spark.conf.get('spark.master'))",
        ),
        (
            None,
            "df = spark.range(rows).selectExpr('id % 10 AS bucket', 'rand(42) AS x')\n"
            "summary = df.groupBy('bucket').agg({'x': 'avg', '*': 'count'}).orderBy('bucket')\n"
            "result = summary.toPandas()\n"
            "result",
        ),
        (None, "result.to_csv('summary.csv', index=False)\nprint('wrote summary.csv')"),
    ],
}
# jupyter-server-proxy (installed for the Spark UI route's handler classes) enables its own
# extension through a jupyter_server_config.d file; its /proxy/<port> reaches any local port
# and forwards the caller's token and cookies: keep it off. Our spark/ui route stays.
SERVER_CONFIG = {"ServerApp": {"jpserver_extensions": {"jupyter_server_proxy": False}}}


def write_examples(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, cells in EXAMPLES.items():
        path = folder / name
        if path.exists():
            continue
        nb = nbformat.v4.new_notebook()
        for tag, source in cells:
            if tag == "markdown":
                nb.cells.append(nbformat.v4.new_markdown_cell(source))
                continue
            cell = nbformat.v4.new_code_cell(source)
            if tag:
                cell.metadata["tags"] = [tag]
            nb.cells.append(cell)
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        nbformat.write(nb, str(path))


def server_command(folder: Path, port: int) -> list[str]:
    """The demo's JupyterLab command line (the tests start the same one)."""
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={folder}",
        f"--port={port}",
        "--ip=127.0.0.1",
    ]
    for cls, traits in SERVER_CONFIG.items():  # dicts as traitlets' key=value items
        for name, items in traits.items():
            cmd += [f"--{cls}.{name}={key}={value!r}" for key, value in items.items()]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    if not os.environ.get("DISPLAY"):
        cmd.append("--no-browser")
    return cmd


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="demo", help="workspace folder (created with examples)")
    ap.add_argument("--port", type=int, default=8888)
    args = ap.parse_args(argv)
    folder = Path(args.dir).resolve()
    write_examples(folder)
    cmd = server_command(folder, args.port)
    print("swan-ml-ext demo: open the URL below, then a notebook, then 'Run on batch'.")
    os.execv(sys.executable, cmd)


if __name__ == "__main__":
    main()
