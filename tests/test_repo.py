"""What a fresh clone needs: no build stamp tracked, so every install step runs there; and
the files it ships are what they say (the OpenAPI document has no key twice)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


def tracked() -> list[str]:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_no_build_stamp_is_tracked():
    stamps = [
        f
        for f in tracked()
        if f.startswith(".make/")
        or re.search(r"(^|/)\.(deps|installed|yarn-state\.yml)$", f)
        or f.startswith("swan_ml_ext/labextension/")
    ]
    assert stamps == []


def test_system_step_checks_its_binaries_every_time():
    makefile = (REPO / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.M)
    assert phony and "system" in phony.group(1).split()
    rule = re.search(r"^system:(.*)\n((?:\t.*\n)+)", makefile, re.M)
    assert rule and rule.group(1).strip() == "", "system must not depend on a stamp file"
    for binary in ("debootstrap", "chromium", "java-17-openjdk-", "openjdk-17-jre-headless"):
        assert binary in rule.group(2)


def test_install_step_installs_the_spark_extra_and_reruns_when_pyproject_changes():
    makefile = (REPO / "Makefile").read_text()
    install = re.search(r"^\$\(VENV\)/\.installed:(.*)\n((?:\t.*\n)+)", makefile, re.M)
    assert install and re.search(r"pip install .*-e \"\.\[[^]]*\bspark\b", install.group(2))
    deps = re.search(r"^\$\(VENV\)/\.deps:(.*)$", makefile, re.M)
    assert deps and "pyproject.toml" in deps.group(1).split()
    assert "$(VENV)/.deps" in install.group(1).split()
    spark = re.search(r"^spark = \[(.*)\]$", (REPO / "pyproject.toml").read_text(), re.M)
    assert spark, "pyproject has no `spark` extra"
    for pin in ("pyspark[connect]==4.3.0", "pandas<3", "jupyter-server-proxy==4.6.0"):
        assert f'"{pin}"' in spark.group(1)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a mapping with a key twice (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                problem = f"found the key {key!r} twice"
                raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def test_unique_key_loader_refuses_a_key_twice():
    with pytest.raises(yaml.constructor.ConstructorError, match="'b' twice"):
        yaml.load("a: {b: 1, c: 2, b: 3}", Loader=_UniqueKeyLoader)
    text = "a: {b: 1}\nb: {b: 2}"  # the same key in two mappings is fine
    assert yaml.load(text, Loader=_UniqueKeyLoader) == {"a": {"b": 1}, "b": {"b": 2}}


def test_openapi_document_has_no_key_twice():
    text = (REPO / "swan_ml_ext" / "openapi.yaml").read_text()
    doc = yaml.load(text, Loader=_UniqueKeyLoader)
    assert "Job" in doc["components"]["schemas"]
