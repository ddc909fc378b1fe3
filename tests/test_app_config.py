"""A site's own configuration: defaults resolved at start, clear errors naming the trait."""

from __future__ import annotations

import pytest

from swan_ml_ext.app import SwanMLApp

LCG = {
    "setup": "source /cvmfs/sft.cern.ch/lcg/views/LCG_106_cuda/x86_64-el9-gcc11-opt/setup.sh",
    "python": "python3",
    "kernels": ["python3"],
    "description": "LCG 106 with CUDA",
}


def test_the_readme_example_alone_is_the_default_environment():
    app = SwanMLApp(environments={"LCG_106_cuda": LCG})
    assert app.resolved_defaults() == ("condor", "LCG_106_cuda")


def test_with_several_environments_default_is_the_one_named_default():
    app = SwanMLApp(environments={"LCG_106_cuda": LCG, "default": LCG})
    assert app.resolved_defaults()[1] == "default"


def test_a_configured_default_environment_wins():
    app = SwanMLApp(
        environments={"LCG_106_cuda": LCG, "default": LCG}, default_environment="LCG_106_cuda"
    )
    assert app.resolved_defaults()[1] == "LCG_106_cuda"


@pytest.mark.parametrize(
    "config, words",
    [
        ({"environments": {"a": LCG, "b": LCG}}, ["SwanMLApp.default_environment", "a, b"]),
        ({"default_environment": "nope"}, ["SwanMLApp.default_environment is 'nope'"]),
        ({"default_backend": "slurm"}, ["SwanMLApp.default_backend is 'slurm'", "condor"]),
    ],
)
def test_defaults_that_name_nothing_are_a_startup_error(config, words):
    with pytest.raises(ValueError) as e:
        SwanMLApp(**config).resolved_defaults()
    for w in words:
        assert w in str(e.value)


def test_a_site_with_its_own_environments_submits_without_naming_one(tmp_path, condor_pool):
    # Given a server configured as the README shows, with no environment called 'default'
    from .conftest import write_notebook
    from .server import ServerProcess

    config = tmp_path / "site_config.py"
    config.write_text(
        "c.SwanMLApp.environments = {'site_py': {'python': '/opt/worker/bin/python',"
        " 'kernels': ['python3'], 'description': 'the site stack'}}\n"
    )
    server = ServerProcess(tmp_path, f"--config={config}")
    write_notebook(server.root / "nb.ipynb", "print(1)")
    server.start()
    try:
        # When a job names no environment, then it gets the only one
        job = server.client.submit({"notebook": "nb.ipynb", "resources": {"memory_mb": 256}})
        assert job["environment"] == "site_py"
        assert server.client.backends()["default_environment"] == "site_py"
        server.client.cancel(job["id"])
    finally:
        server.stop()
