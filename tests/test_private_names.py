"""No private name (a leading underscore) of point3d_mm is used outside its own module.

What two modules share is public in its home module; a private name is free to change with
its module. Read from the source (ast), every file under point3d_mm/.
"""
import ast
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'point3d_mm'


def _is_private(name: str) -> bool:
    return name.startswith('_') and not name.startswith('__')


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix('').parts)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _absolute(module: str, is_package: bool, level: int, target: str) -> str:
    """The dotted name of ``from <level dots><target> import ...`` in ``module``."""
    if not level:
        return target
    base = module.split('.')
    base = base if is_package else base[:-1]
    base = base[:len(base) - (level - 1)]
    return '.'.join(base + ([target] if target else []))


def crossings(source: str, module: str, is_package: bool = False) -> List[str]:
    """The private names of other point3d_mm modules that ``source`` imports or reads as an
    attribute of an imported point3d_mm module."""
    found, aliases = [], set()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _absolute(module, is_package, node.level, node.module or '')
            if target.split('.')[0] != 'point3d_mm':
                continue
            for alias in node.names:
                if _is_private(alias.name):
                    found.append(f'from {target} import {alias.name}')
                else:
                    aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split('.')[0] == 'point3d_mm':
                    aliases.add(alias.asname or alias.name.split('.')[0])
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and _is_private(node.attr)
                and isinstance(node.value, ast.Name) and node.value.id in aliases):
            found.append(f'{node.value.id}.{node.attr}')
    return found


def test_the_reader_finds_each_kind_of_crossing():
    source = ('from .inference import _ClipPreparer, detect_frames\n'
              'from ..evaluation.functional import overlaps\n'
              'import point3d_mm.utils.fileio as fileio\n'
              'from numpy.lib import _private_numpy_name\n'
              'x = overlaps._area(1, 2) + fileio._tmp + detect_frames._x\n'
              'class A:\n    def f(self):\n        return self._own\n')
    assert sorted(crossings(source, 'point3d_mm.apis.heatmap')) == [
        'detect_frames._x', 'fileio._tmp',
        'from point3d_mm.apis.inference import _ClipPreparer', 'overlaps._area']
    assert _absolute('point3d_mm.evaluation', True, 1, 'metrics') == \
        'point3d_mm.evaluation.metrics'
    assert _absolute('point3d_mm.evaluation.functional.linking.base', False, 2, 'nms') == \
        'point3d_mm.evaluation.functional.nms'


def test_no_private_name_crosses_a_module():
    files = sorted(PACKAGE.rglob('*.py'))
    assert len(files) > 50 and any(path.match('*/linking/base.py') for path in files)
    found = []
    for path in files:
        found += [f'{path.relative_to(ROOT)}: {what}' for what in crossings(
            path.read_text(encoding='utf-8'), _module_name(path), path.name == '__init__.py')]
    assert not found, 'private names used outside their module:\n' + '\n'.join(found)
