"""The user's paths (relative to where they are) become root-relative ones, and the client
learns the server root: env, runtime-dir server file, else `GET swan-ml-ext/info` once."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from swan_ml_ext import client as client_mod
from swan_ml_ext.client import ClientError, Server, SwanMLClient, discover
from swan_ml_ext.commands import UsageError, root_relative, to_server_paths


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """<tmp>/root/{top.ipynb, mag/{driver,target}.ipynb, mag/data.csv} and <tmp>/outside.ipynb."""
    root = tmp_path / "root"
    (root / "mag").mkdir(parents=True)
    for rel in ("top.ipynb", "mag/driver.ipynb", "mag/target.ipynb", "mag/data.csv"):
        (root / rel).write_text("{}")
    (tmp_path / "outside.ipynb").write_text("{}")
    return root


# --- root_relative ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("target.ipynb", "mag/target.ipynb"),
        ("./target.ipynb", "mag/target.ipynb"),
        ("../top.ipynb", "top.ipynb"),
        ("../mag/../mag/data.csv", "mag/data.csv"),
        ("sub/new.ipynb", "mag/sub/new.ipynb"),  # need not exist: the server says so
    ],
)
def test_relative_paths_are_from_the_current_folder(tree: Path, path: str, expected: str) -> None:
    assert root_relative(path, str(tree), cwd=str(tree / "mag")) == expected


def test_relative_path_uses_os_getcwd_by_default(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree / "mag")
    assert root_relative("target.ipynb", str(tree)) == "mag/target.ipynb"
    monkeypatch.chdir(tree)
    assert root_relative("mag/target.ipynb", str(tree)) == "mag/target.ipynb"


def test_absolute_path_inside_the_root(tree: Path) -> None:
    assert root_relative(str(tree / "mag" / "target.ipynb"), str(tree), cwd="/") == (
        "mag/target.ipynb"
    )


@pytest.mark.parametrize("path", ["../../outside.ipynb", "../..", "ABS"])
def test_paths_outside_the_root_are_refused_naming_the_root(tree: Path, path: str) -> None:
    if path == "ABS":
        path = str(tree.parent / "outside.ipynb")
    with pytest.raises(UsageError) as e:
        root_relative(path, str(tree), "notebook", cwd=str(tree / "mag"))
    message = str(e.value)
    assert "outside the server root" in message and str(tree.resolve()) in message
    assert path in message and "\n" not in message


def test_a_sibling_folder_with_the_root_as_prefix_is_outside(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root2").mkdir()
    with pytest.raises(UsageError, match="outside the server root"):
        root_relative("../root2/x.ipynb", str(tmp_path / "root"), cwd=str(tmp_path / "root"))


def test_symlinked_root_either_side(tree: Path) -> None:
    link = tree.parent / "link-to-root"
    link.symlink_to(tree, target_is_directory=True)
    # the server names the root through the link, the kernel's cwd is the real folder
    assert root_relative("target.ipynb", str(link), cwd=str(tree / "mag")) == "mag/target.ipynb"
    # the server names the real folder, the user works through the link
    assert root_relative("target.ipynb", str(tree), cwd=str(link / "mag")) == "mag/target.ipynb"
    assert root_relative(str(link / "top.ipynb"), str(tree)) == "top.ipynb"


def test_symlink_leading_out_of_the_root_is_refused(tree: Path) -> None:
    (tree / "mag" / "escape.ipynb").symlink_to(tree.parent / "outside.ipynb")
    with pytest.raises(UsageError, match="outside the server root"):
        root_relative("escape.ipynb", str(tree), cwd=str(tree / "mag"))


def test_to_server_paths_converts_notebook_and_every_input(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree / "mag")
    client = SwanMLClient(Server("http://x/", "", str(tree)))
    spec: dict[str, Any] = {"notebook": "target.ipynb", "inputs": ["data.csv", "../top.ipynb"]}
    to_server_paths(spec, client)
    assert spec == {"notebook": "mag/target.ipynb", "inputs": ["mag/data.csv", "top.ipynb"]}
    # notebook=False: the notebook is already root-relative (the current one, a cell's)
    spec = {"notebook": "mag/driver.ipynb", "inputs": ["data.csv"]}
    to_server_paths(spec, client, notebook=False)
    assert spec == {"notebook": "mag/driver.ipynb", "inputs": ["mag/data.csv"]}
    with pytest.raises(UsageError, match="input '../../outside.ipynb' is outside"):
        to_server_paths({"notebook": "target.ipynb", "inputs": ["../../outside.ipynb"]}, client)


# --- where the client learns the root -----------------------------------------------------


class CountingClient(SwanMLClient):
    def __init__(self, server: Server, answer: Any = None, status: int = 0):
        super().__init__(server)
        self.calls: list[str] = []
        self.answer, self.status = answer, status

    def request(self, method: str, path: str, body: Any = None, query: Any = None) -> Any:
        self.calls.append(f"{method} {path}")
        if self.status:
            raise ClientError("Not Found", self.status)
        return self.answer


def test_root_from_discovery_needs_no_request(tree: Path) -> None:
    c = CountingClient(Server("http://x/", "", str(tree)))
    assert c.root_dir() == str(tree.resolve())
    assert c.calls == []


def test_root_is_asked_from_info_once(tree: Path) -> None:
    c = CountingClient(Server("http://x/", ""), {"root_dir": str(tree), "version": "1"})
    assert c.root_dir() == str(tree.resolve())
    assert c.root_dir() == str(tree.resolve())
    assert c.calls == ["GET info"]


def test_a_server_without_info_is_one_clear_error() -> None:
    c = CountingClient(Server("http://x/", ""), status=404)
    with pytest.raises(ClientError, match="does not tell its root folder"):
        c.root_dir()


def test_env_root_only_goes_with_the_env_url(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWAN_ML_URL", "http://127.0.0.1:1/")
    monkeypatch.setenv("SWAN_ML_TOKEN", "t")
    monkeypatch.setenv("SWAN_ML_ROOT", str(tree))
    assert discover() == Server("http://127.0.0.1:1/", "t", str(tree))
    # another server named explicitly: its root is asked, not taken from this environment
    assert discover("http://elsewhere:8888").root is None


def test_root_from_the_runtime_dir_server_file(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SWAN_ML_URL", raising=False)
    monkeypatch.setenv("SWAN_ML_ROOT", "/somewhere/else")  # not this server's
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    (runtime / "jpserver-1.json").write_text(
        json.dumps({"url": "http://127.0.0.1:2/", "token": "t", "root_dir": str(tree)})
    )
    monkeypatch.setattr(client_mod, "_runtime_dir", lambda: str(runtime))
    monkeypatch.setattr(client_mod, "_answers", lambda server: True)
    assert discover() == Server("http://127.0.0.1:2/", "t", str(tree))


def test_root_dir_resolves_symlinks(tree: Path) -> None:
    link = tree.parent / "link"
    link.symlink_to(tree, target_is_directory=True)
    assert SwanMLClient(Server("http://x/", "", str(link))).root_dir() == os.path.realpath(tree)
