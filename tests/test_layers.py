"""The package's layers, read from its import statements (no module is imported here).

utils at the bottom; structures and the pure-numpy evaluation core above it; models never
reach evaluation, datasets or apis; evaluation never reaches models; the numpy core never
reaches torch or the OpenMMLab stack.
"""
import ast
import os
import os.path as osp
from typing import Dict, Set, Tuple

import pytest

ROOT = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'point3d_mm')
HEAVY = {'torch', 'mmengine', 'mmaction', 'mmdet', 'mmcv'}


def module_name(path: str) -> str:
    rel = osp.relpath(path, osp.dirname(ROOT))[:-len('.py')].replace(os.sep, '.')
    return rel[:-len('.__init__')] if rel.endswith('.__init__') else rel


def read_imports() -> Tuple[Dict[str, Set[str]], Dict[str, Set[str]]]:
    """({module: modules of the package it imports}, {module: top-level outside packages})."""
    ours, outside = {}, {}
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if not name.endswith('.py'):
                continue
            path = osp.join(folder, name)
            module = module_name(path)
            package = module if name == '__init__.py' else module.rpartition('.')[0]
            ours[module], outside[module] = set(), set()
            for node in ast.walk(ast.parse(open(path).read(), path)):
                targets = []
                if isinstance(node, ast.Import):
                    targets = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ''
                    if node.level:
                        parts = package.split('.')[:len(package.split('.')) - node.level + 1]
                        base = '.'.join(parts + ([base] if base else []))
                    targets = [base] + [f'{base}.{alias.name}' for alias in node.names]
                for target in targets:
                    if target.split('.')[0] == 'point3d_mm':
                        ours[module].add(target)
                    elif target:
                        outside[module].add(target.split('.')[0])
    for module in ours:  # keep only names that are modules ('pkg.func' -> 'pkg')
        ours[module] = {t if t in ours else t.rpartition('.')[0] for t in ours[module]}
        ours[module] = {t for t in ours[module] if t in ours and t != 'point3d_mm'}
    return ours, outside


IMPORTS, OUTSIDE = read_imports()


def reachable(start: str) -> Set[str]:
    seen, todo = set(), [m for m in IMPORTS if m == start or m.startswith(start + '.')]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(IMPORTS[module])
    return seen


def test_the_reader_sees_known_imports():
    assert 'point3d_mm.structures.geometry' in IMPORTS['point3d_mm.models.heads.point_head']
    assert 'torch' in OUTSIDE['point3d_mm.models.heads.point_head']
    assert 'point3d_mm.evaluation.functional.overlaps' in IMPORTS[
        'point3d_mm.evaluation.functional.tube_linking']


@pytest.mark.parametrize('layer,forbidden', [
    ('point3d_mm.models', ('point3d_mm.evaluation', 'point3d_mm.datasets', 'point3d_mm.apis')),
    ('point3d_mm.evaluation', ('point3d_mm.models', 'point3d_mm.apis', 'point3d_mm.datasets')),
    ('point3d_mm.structures', ('point3d_mm.models', 'point3d_mm.datasets',
                               'point3d_mm.evaluation', 'point3d_mm.apis')),
    ('point3d_mm.utils', ('point3d_mm.models', 'point3d_mm.datasets', 'point3d_mm.evaluation',
                          'point3d_mm.apis', 'point3d_mm.structures', 'point3d_mm.engine')),
    ('point3d_mm.datasets', ('point3d_mm.models', 'point3d_mm.evaluation', 'point3d_mm.apis')),
])
def test_no_import_path_crosses_a_layer(layer, forbidden):
    crossing = sorted(m for m in reachable(layer) if m.startswith(forbidden))
    assert not crossing, f'{layer} reaches {crossing}'


def test_numpy_core_imports_no_framework():
    heavy = {m: sorted(OUTSIDE[m] & HEAVY)
             for m in reachable('point3d_mm.evaluation.functional') if OUTSIDE[m] & HEAVY}
    assert not heavy, heavy
    assert 'numpy' in OUTSIDE['point3d_mm.evaluation.functional.overlaps']
