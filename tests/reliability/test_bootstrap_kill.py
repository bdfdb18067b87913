"""``tools/bootstrap_env.sh`` (``make env``) killed mid-build, then rerun.

The real build takes 10 minutes and the network; this runs a byte-identical copy of the script
in a fake checkout instead, whose constraints pin stand-ins for every package the script
installs: tiny local wheels (``PIP_NO_INDEX``, ``PIP_FIND_LINKS``, no pip config or cache), an
mmcv source distribution whose build backend "compiles" (waits) like mmcv's, and a fake
project installed editable. The venv itself is a real ``python -m venv``. Kills are real
SIGKILLs of the script's process group (bash, python, pip, the build backend):

* while ``python -m venv`` runs (``bin/python`` linked, pip not yet installed): the rerun
  finds a venv without a working pip, removes it and builds it again;
* while mmcv compiles (its backend has started): the rerun installs what is missing;
* the stamp of another pin set (one pin changed): the rerun installs the new pin.

Each time: no stamp after the kill, the rerun ends with the stamp of the current pins and the
script's import check passing, and a further run only checks the stamp.
"""
import hashlib
import io
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile

import pytest
from reliability_helpers import REPO_ROOT

pytestmark = pytest.mark.slow

#: Modules of the stand-ins that the script's import check imports (other stand-ins hold one
#: module named after the package).
MODULES = {'mmengine': ['mmengine', 'mmengine.runner'], 'mmdet': ['mmdet', 'mmdet.models'],
           'mmcv': ['mmcv', 'mmcv.ops'], 'openmim': ['mim']}
#: Installed by `python -m venv` itself (Python 3.11's ensurepip): no stand-in needed.
FROM_VENV = {'setuptools', 'pip'}


def script_packages(script: str) -> list:
    """The packages the script installs, read from its ``"${pip[@]}" name ...`` lines, so
    that a package added to the script gets a stand-in here too."""
    with open(script) as f:
        text = f.read().replace('\\\n', ' ')
    names = []
    for line in text.splitlines():
        line = line.split(' #', 1)[0]
        if line.lstrip().startswith('#') or '"${pip[@]}"' not in line:
            continue
        names += [token for token in line.split('"${pip[@]}"', 1)[1].split()
                  if not token.startswith(('-', '"', '$'))]
    assert {'torch', 'mmengine', 'mmcv', 'mmdet', 'openmim'} <= set(names), names
    return [name for name in names if name not in FROM_VENV]


def modules_of(name: str) -> list:
    return MODULES.get(name, [name.replace('-', '_')])


VERSION = '1.0.0'
MMCV_VERSION = '2.1.0'
# A PEP 517/660 build backend in the standard library only (no setuptools to fetch): writes a
# wheel of the modules listed in fake_project.json. With FAKE_COMPILE_MARKER set it first
# touches that file and waits, as mmcv's compile would.
BACKEND = r'''
import base64, hashlib, json, os, time, zipfile

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fake_project.json')) as f:
    PROJECT = json.load(f)


def _wheel(directory, editable=False):
    marker = os.environ.get('FAKE_COMPILE_MARKER')
    if marker and not editable:
        open(marker, 'w').close()
        time.sleep(600)
    name, version = PROJECT['name'].replace('-', '_'), PROJECT['version']
    info = f'{name}-{version}.dist-info'
    files = dict(PROJECT['files'])
    if editable:
        files = {f'{name}_editable.pth': os.path.dirname(os.path.abspath(__file__)) + '\n'}
    files[f'{info}/METADATA'] = (f'Metadata-Version: 2.1\nName: {PROJECT["name"]}\n'
                                 f'Version: {version}\n')
    files[f'{info}/WHEEL'] = ('Wheel-Version: 1.0\nGenerator: fake\nRoot-Is-Purelib: true\n'
                              'Tag: py3-none-any\n')
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=')
        record.append(f'{path},sha256={digest.decode()},{len(text.encode())}')
    files[f'{info}/RECORD'] = '\n'.join(record + [f'{info}/RECORD,,']) + '\n'
    filename = f'{name}-{version}-py3-none-any.whl'
    with zipfile.ZipFile(os.path.join(directory, filename), 'w') as z:
        for path, text in files.items():
            z.writestr(path, text)
    return filename


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, editable=True)


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []
'''
PYPROJECT = '''[build-system]
requires = []
build-backend = "fake_backend"
backend-path = ["."]
'''


def _module_files(modules, version):
    files = {}
    for module in modules:
        path = module.replace('.', '/') + '/__init__.py'
        files[path] = f'__version__ = {version!r}\n'
    return files


def _write_wheel(folder, name, version, modules):
    """A wheel of ``modules`` (what pip installs for the stand-in ``name``)."""
    import base64
    dist = name.replace('-', '_')
    info = f'{dist}-{version}.dist-info'
    files = _module_files(modules, version)
    files[f'{info}/METADATA'] = f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n'
    files[f'{info}/WHEEL'] = ('Wheel-Version: 1.0\nGenerator: fake\nRoot-Is-Purelib: true\n'
                              'Tag: py3-none-any\n')
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=')
        record.append(f'{path},sha256={digest.decode()},{len(text.encode())}')
    files[f'{info}/RECORD'] = '\n'.join(record + [f'{info}/RECORD,,']) + '\n'
    with zipfile.ZipFile(osp.join(folder, f'{dist}-{version}-py3-none-any.whl'), 'w') as z:
        for path, text in files.items():
            z.writestr(path, text)


def _project_files(name, version, files):
    import json
    return {'pyproject.toml': PYPROJECT, 'fake_backend.py': BACKEND,
            'fake_project.json': json.dumps(dict(name=name, version=version, files=files))}


def _write_sdist(folder, name, version, modules):
    """A source distribution built by the fake backend (mmcv: pip builds it)."""
    top = f'{name}-{version}'
    files = _project_files(name, version, _module_files(modules, version))
    files['PKG-INFO'] = f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n'
    with tarfile.open(osp.join(folder, f'{top}.tar.gz'), 'w:gz') as tar:
        for path, text in files.items():
            data = text.encode()
            member = tarfile.TarInfo(f'{top}/{path}')
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))


@pytest.fixture
def checkout(tmp_path):
    """A fake checkout (the real script, fake pins and project) and its wheel folder."""
    root = tmp_path / 'checkout'
    (root / 'tools').mkdir(parents=True)
    (root / 'requirements').mkdir()
    shutil.copy2(osp.join(REPO_ROOT, 'tools', 'bootstrap_env.sh'), root / 'tools')
    for path, text in _project_files('point3d_mm', '0.0.0', {}).items():
        (root / path).write_text(text)
    wheels = tmp_path / 'wheels'
    wheels.mkdir()
    packages = script_packages(str(root / 'tools' / 'bootstrap_env.sh'))
    for name in packages:
        if name != 'mmcv':
            _write_wheel(str(wheels), name, VERSION, modules_of(name))
    _write_wheel(str(wheels), 'mmengine', '1.0.1', modules_of('mmengine'))  # the pin change
    _write_sdist(str(wheels), 'mmcv', MMCV_VERSION, modules_of('mmcv'))
    pins = {name: VERSION for name in packages}
    pins['mmcv'] = MMCV_VERSION
    write_pins(root, pins)
    return dict(root=root, wheels=wheels, venv=tmp_path / 'venv', pins=pins,
                marker=tmp_path / 'compiling')


def write_pins(root, pins):
    text = '# fake pins\n' + ''.join(f'{n}=={v}\n' for n, v in sorted(pins.items()))
    (root / 'requirements' / 'constraints.txt').write_text(text)


def expected_stamp(root) -> str:
    data = ((root / 'requirements' / 'constraints.txt').read_bytes()
            + (root / 'tools' / 'bootstrap_env.sh').read_bytes())
    return hashlib.sha256(data).hexdigest()


def script_env(checkout, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(('PIP_', 'VIRTUAL_ENV', 'PYTHONPATH'))}
    env.update(P3D_VENV=str(checkout['venv']), PYTHON=sys.executable,
               # only the local stand-ins: no index, no pip.conf, no cache (nothing leaks in
               # or out of the user's pip set-up)
               PIP_NO_INDEX='1', PIP_FIND_LINKS=str(checkout['wheels']),
               PIP_CONFIG_FILE=os.devnull, PIP_NO_CACHE_DIR='1',
               PIP_DISABLE_PIP_VERSION_CHECK='1', PYTHONDONTWRITEBYTECODE='1')
    env.update(extra)
    return env


def start(checkout, **extra) -> subprocess.Popen:
    return subprocess.Popen(
        ['nice', '-n', '5', 'bash', str(checkout['root'] / 'tools' / 'bootstrap_env.sh')],
        env=script_env(checkout, **extra), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)


def run_script(checkout, timeout=300) -> str:
    proc = start(checkout)
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f'bootstrap_env.sh exited with {proc.returncode}:\n{out}'
    return out


def kill_when(proc: subprocess.Popen, condition, what: str, timeout=300) -> None:
    deadline = time.time() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f'the script ended before {what}:\n{proc.stdout.read()}')
        assert time.time() < deadline, f'no {what} in {timeout} s'
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stdout.close()
    deadline = time.time() + 60
    while True:  # the whole group (pip, the build backend) is gone
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.time() < deadline
        time.sleep(0.05)


def venv_python(checkout) -> str:
    return str(checkout['venv'] / 'bin' / 'python')


def imports(checkout, modules: str) -> subprocess.CompletedProcess:
    return subprocess.run([venv_python(checkout), '-c', f'import {modules}'],
                          capture_output=True, text=True, env=script_env(checkout))


def assert_complete(checkout, out: str) -> None:
    stamp = checkout['venv'] / '.point3d_mm_env'
    assert stamp.read_text().strip() == expected_stamp(checkout['root'])
    assert 'the OpenMMLab stack imports' in out
    assert imports(checkout, 'mmcv.ops, mmdet.models, mmengine.runner, mim, torch').returncode == 0
    assert not list(checkout['venv'].glob('.point3d_mm_env.tmp'))
    started = time.time()
    again = run_script(checkout)
    assert 'is complete' in again and 'building' not in again
    assert time.time() - started < 10


def test_killed_while_the_venv_is_created(checkout):
    proc = start(checkout)
    # venv has linked bin/python and is about to run ensurepip (seconds)
    kill_when(proc, lambda: osp.lexists(venv_python(checkout)), 'the venv\'s python')
    assert not (checkout['venv'] / '.point3d_mm_env').exists()
    # the kill came before ensurepip had installed pip: the half-made venv the rerun must see
    assert not osp.exists(venv_python(checkout)) or subprocess.run(
        [venv_python(checkout), '-m', 'pip', '--version'], capture_output=True).returncode != 0
    out = run_script(checkout)
    assert 'is incomplete' in out and 'no working python/pip' in out and 'removing it' in out
    assert_complete(checkout, out)


def test_killed_while_mmcv_compiles(checkout):
    proc = start(checkout, FAKE_COMPILE_MARKER=str(checkout['marker']))
    kill_when(proc, checkout['marker'].exists, 'mmcv build')
    assert not (checkout['venv'] / '.point3d_mm_env').exists()
    assert imports(checkout, 'mmengine.runner').returncode == 0  # installed before mmcv
    assert imports(checkout, 'mmcv').returncode != 0
    out = run_script(checkout)
    assert 'is incomplete' in out and 'repairing' in out and 'removing it' not in out
    assert_complete(checkout, out)


def test_stamp_of_other_pins_is_updated(checkout):
    run_script(checkout)
    pins = dict(checkout['pins'], mmengine='1.0.1')
    write_pins(checkout['root'], pins)
    out = run_script(checkout)
    assert 'built for other pins' in out
    version = subprocess.run([venv_python(checkout), '-c',
                              'import importlib.metadata as m; print(m.version("mmengine"))'],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version == '1.0.1'
    assert_complete(checkout, out)
