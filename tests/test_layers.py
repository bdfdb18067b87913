"""The package's layers, read from its import statements (no module is imported here).

Every package of point3d_mm has a place in :data:`LAYERS` and imports only packages of the
layers below its own: utils at the bottom; structures; the models, the datasets and the
evaluation side by side (none reaches another); the visualization; the engine (hooks,
loops); the public API; the analysis (benchmarks, studies) on top. The numpy core of the
evaluation never reaches torch or the OpenMMLab stack, and nothing imports a script of
tools/. A new package fails :func:`test_every_package_has_a_layer` until it is given one.
"""
import ast
import os
import os.path as osp
from typing import Dict, Iterable, List, Sequence, Set, Tuple

ROOT = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'point3d_mm')
HEAVY = {'torch', 'mmengine', 'mmaction', 'mmdet', 'mmcv'}

#: The packages of point3d_mm from the bottom layer up; a package may import the packages
#: of the layers below its own, not those beside it or above.
LAYERS: List[Tuple[str, ...]] = [
    ('utils', ),
    ('structures', ),
    ('models', 'datasets', 'evaluation'),
    ('visualization', ),
    ('engine', ),
    ('apis', ),
    ('analysis', ),
]
#: Modules at the top of the package, outside the layers: the package's ``__init__`` imports
#: every package so that their parts are registered; version.py imports nothing.
TOP_MODULES = {'point3d_mm', 'point3d_mm.version'}


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


def top_package(module: str) -> str:
    """'point3d_mm.models.heads.point_head' -> 'models'."""
    return module.split('.')[1]


def crossings(imports: Dict[str, Set[str]], layers: Sequence[Sequence[str]]) -> List[str]:
    """'module -> imported module' for every import of a package that its layer does not
    allow (one beside it or above it, or a package that has no layer)."""
    level = {package: number for number, layer in enumerate(layers) for package in layer}
    found = []
    for module, targets in sorted(imports.items()):
        if module in TOP_MODULES:
            continue
        here = top_package(module)
        for target in sorted(targets):
            there = top_package(target)
            if there != here and not (here in level and there in level
                                      and level[there] < level[here]):
                found.append(f'{module} -> {target}')
    return found


def packages_without_layer(packages: Iterable[str],
                           layers: Sequence[Sequence[str]]) -> List[str]:
    placed = {package for layer in layers for package in layer}
    return sorted(set(packages) - placed)


def test_the_reader_sees_known_imports():
    assert 'point3d_mm.structures.geometry' in IMPORTS['point3d_mm.models.heads.point_head']
    assert 'torch' in OUTSIDE['point3d_mm.models.heads.point_head']
    assert 'point3d_mm.analysis.training_memory' in IMPORTS[  # from .training_memory import
        'point3d_mm.analysis.training_memory_summary']
    assert 'point3d_mm.utils.benchmark' in IMPORTS['point3d_mm.analysis.evaluation_speed']


def test_the_checks_refuse_an_upward_import_and_a_package_without_a_layer():
    imports = {'point3d_mm.models.head': {'point3d_mm.utils.misc', 'point3d_mm.apis.model'},
               'point3d_mm.datasets.ava': {'point3d_mm.evaluation.metrics'},
               'point3d_mm.apis.model': {'point3d_mm.models.head'},
               'point3d_mm.newcomer.part': {'point3d_mm.utils.misc'}}
    assert crossings(imports, LAYERS) == [
        'point3d_mm.datasets.ava -> point3d_mm.evaluation.metrics',  # side by side
        'point3d_mm.models.head -> point3d_mm.apis.model',  # upwards
        'point3d_mm.newcomer.part -> point3d_mm.utils.misc']  # no layer
    assert packages_without_layer(['utils', 'newcomer'], LAYERS) == ['newcomer']


def test_every_package_has_a_layer():
    packages = [name for name in os.listdir(ROOT)
                if osp.isfile(osp.join(ROOT, name, '__init__.py'))]
    missing = packages_without_layer(packages, LAYERS)
    assert not missing, f'point3d_mm packages with no place in LAYERS: {missing}'
    placed = [package for layer in LAYERS for package in layer]
    assert sorted(placed) == sorted(packages), 'LAYERS names a package that is not there'
    modules = {module_name(osp.join(ROOT, name)) for name in os.listdir(ROOT)
               if name.endswith('.py')}
    assert modules == TOP_MODULES, 'a new module at the top of point3d_mm: place it'


def test_no_import_crosses_a_layer():
    found = crossings(IMPORTS, LAYERS)
    assert not found, 'imports against the layers:\n' + '\n'.join(found)


def test_nothing_imports_a_script():
    scripts = sorted(module for module, names in OUTSIDE.items() if 'tools' in names)
    assert not scripts, f'these import from tools/: {scripts}'


def test_numpy_core_imports_no_framework():
    seen, todo = set(), [m for m in IMPORTS if m.startswith('point3d_mm.evaluation.functional')]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(IMPORTS[module])
    heavy = {m: sorted(OUTSIDE[m] & HEAVY) for m in seen if OUTSIDE[m] & HEAVY}
    assert not heavy, heavy
    assert 'numpy' in OUTSIDE['point3d_mm.evaluation.functional.overlaps']
