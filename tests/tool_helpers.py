"""Shared test helpers: loading a script of ``tools/`` as a module (the scripts are not a
package), so tests call its functions in-process instead of paying for a new interpreter."""
import importlib.util
import os.path as osp
from types import ModuleType

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool(relative_path: str) -> ModuleType:
    """``tools/<relative_path>`` (e.g. ``'analysis/eval_detections.py'``) as a module."""
    path = osp.join(REPO_ROOT, 'tools', relative_path)
    name = 'tool_' + relative_path.replace('/', '_').rsplit('.', 1)[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
