"""`make demo`: example notebooks + JupyterLab with the extension on the personal pool.

python -m swan_ml_ext.demo [--dir DIR] [--port PORT]
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
}


def write_examples(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, cells in EXAMPLES.items():
        path = folder / name
        if path.exists():
            continue
        nb = nbformat.v4.new_notebook()
        for tag, source in cells:
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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="demo", help="workspace folder (created with examples)")
    ap.add_argument("--port", type=int, default=8888)
    args = ap.parse_args(argv)
    folder = Path(args.dir).resolve()
    write_examples(folder)
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={folder}",
        f"--port={args.port}",
        "--ip=127.0.0.1",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    if not os.environ.get("DISPLAY"):
        cmd.append("--no-browser")
    print("swan-ml-ext demo: open the URL below, then a notebook, then 'Run on batch'.")
    os.execv(sys.executable, cmd)


if __name__ == "__main__":
    main()
