"""pytest setup for driftrun's integration tests.

Run a file as
    python -m pytest tests/integration/test_cli.py --driftrun BUILD/driftrun --source SRC
Both options are required. Temporary folders come from pytest's tmp_path_factory
(keep them with --basetemp DIR).
"""
import os
import re
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from harness import Workspace  # noqa: E402


def pytest_addoption(parser):
    group = parser.getgroup("driftrun", "driftrun integration tests")
    group.addoption("--driftrun", metavar="PATH", help="the driftrun binary to test (required)")
    group.addoption("--source", metavar="PATH", help="the driftrun source tree (required)")


def pytest_collection_modifyitems(config, items):
    if config.option.collectonly:
        return
    ours = [i for i in items if str(i.path).startswith(HERE + os.sep)]
    missing = [o for o in ("--driftrun", "--source") if not config.getoption(o.lstrip("-"))]
    if ours and missing:
        raise pytest.UsageError(f"driftrun integration tests need {' and '.join(missing)} PATH")


@pytest.fixture(scope="session")
def driftrun_paths(pytestconfig):
    """(absolute driftrun binary, absolute source tree); fails when either is missing."""
    driftrun = pytestconfig.getoption("driftrun")
    source = pytestconfig.getoption("source")
    if not driftrun or not source:
        pytest.fail("--driftrun and --source are required", pytrace=False)
    driftrun, source = os.path.abspath(driftrun), os.path.abspath(source)
    if not (os.path.isfile(driftrun) and os.access(driftrun, os.X_OK)):
        pytest.fail(f"--driftrun {driftrun}: not an executable file", pytrace=False)
    if not os.path.isdir(source):
        pytest.fail(f"--source {source}: not a folder", pytrace=False)
    return driftrun, source


def _workspace(driftrun_paths, tmp_path_factory, name):
    driftrun, source = driftrun_paths
    # No glob metacharacters in the folder name: tests glob under it.
    return Workspace(driftrun, source, tmp_path_factory.mktemp(re.sub(r"[^A-Za-z0-9_.-]", "_", name)))


@pytest.fixture(scope="module")
def module_workspace(driftrun_paths, tmp_path_factory, request):
    """One temporary folder for the whole module: for runs that several tests share
    (Workspace.once runs each of them once)."""
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    return _workspace(driftrun_paths, tmp_path_factory, f"driftrun-{name}-")


@pytest.fixture
def workspace(driftrun_paths, tmp_path_factory, request):
    """A fresh temporary folder for one test."""
    return _workspace(driftrun_paths, tmp_path_factory, f"driftrun-{request.node.name[:30]}-")
