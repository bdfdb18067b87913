"""Fixtures of the real-data tests (``shared_data`` comes from tests/conftest.py)."""
import os.path as osp
import sys

import pytest
from tool_helpers import load_tool

import point3d_mm  # noqa: F401  (compat patches before the first mmaction import)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture
def run_tool(monkeypatch, capsys):
    """Run ``tools/data/<name>.py`` in this process: ``(exit status, stdout, stderr)``.

    In-process, because a fresh interpreter spends seconds importing mmaction2.
    """

    def run(name: str, *argv: str):
        path = osp.join(REPO_ROOT, 'tools', 'data', name + '.py')
        module = load_tool(f'data/{name}.py')
        monkeypatch.setattr(sys, 'argv', [path, *map(str, argv)])
        capsys.readouterr()
        status = module.main()
        out, err = capsys.readouterr()
        return status or 0, out, err

    return run
