"""Build the offline kit for a GPU machine (``make gpu-kit``): every wheel that point3d_mm,
the OpenMMLab stack and mim need there and its image lacks, for the image's CPython on
x86-64 Linux.

The image is an input: ``--image FILE`` lists its Python and packages (format and an example
in tools/device/example_image_packages.txt). The kit is the wheel of point3d_mm, EXTRA_ROOTS,
the DIRECT_IMAGE packages the image lacks and the closure of their requirements (markers
evaluated for the target, extras ignored) less the image's packages and NOT_CARRIED, at the
versions of requirements/constraints.txt where it pins them. mmcv 2.1.0 is built without ops
and given mmcv_ext_standin.py as ``mmcv/_ext.py`` (docs/get_started.md says why). Checks that
every requirement of every kit wheel is met by the kit, the image (at the image's version
where the list gives one) or NOT_CARRIED, and writes ``manifest.json`` and
``image_requirements.txt`` (the image packages the kit relies on, pinned where the list pins
them: what the CPU rehearsal installs as its stand-in image)::

    python tools/device/build_gpu_kit.py --image tools/device/example_image_packages.txt \
        --out .gpu_kit
"""
import argparse
import base64
import email
import email.message
import hashlib
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HERE = osp.dirname(osp.abspath(__file__))
#: The target's marker environment, less its Python version (from the image's list).
TARGET_PLATFORM = dict(sys_platform='linux', platform_system='Linux', platform_machine='x86_64',
                       os_name='posix', implementation_name='cpython',
                       platform_python_implementation='CPython', extra='')
PLATFORMS = ('manylinux_2_28_x86_64', 'manylinux_2_27_x86_64', 'manylinux_2_17_x86_64',
             'manylinux2014_x86_64', 'manylinux1_x86_64')
MMCV_VERSION = '2.1.0'
MMCV_LOCAL = '+p3d.standin'  # the wheel's version: mmcv 2.1.0 without ops, with the stand-in
#: Carried besides point3d_mm's requirements: mim (an extra of ours), and what mmaction2 imports
#: without declaring it (mmaction/utils/dependency.py: importlib_metadata).
EXTRA_ROOTS = ('openmim', 'importlib_metadata')
#: Carried although the image has a version of it: pkg_resources (mim, mmcv) left setuptools 81.
FORCE_CARRY = {'setuptools'}
#: Requirements deliberately not carried: nothing the GPU check runs imports them.
NOT_CARRIED = {
    'opencv-python': 'cv2 comes from the image\'s opencv-python-headless',
    'opencv-contrib-python': 'cv2 comes from the image\'s opencv-python-headless',
    'decord': 'mmaction2 imports it only in its video-decoding transforms, unused here',
    'opendatalab': 'openmim\'s download client; it pins setuptools 60 (DESIGN.md §5)',
    'imageio-ffmpeg': 'only the demo\'s H.264 video writer imports it, lazily',
}
#: What point3d_mm's code, tools and tests import directly: relied on where the image has
#: it, carried where it does not (the rehearsal installs the ones relied on).
DIRECT_IMAGE = ('torch', 'numpy', 'scipy', 'opencv-python-headless', 'pillow', 'psutil',
                'pytest', 'hypothesis', 'onnx', 'onnxruntime', 'matplotlib', 'pyyaml',
                'packaging')
#: Relied on only where the image has it: the mmcv stand-in runs on plain torch without it.
OPTIONAL_IMAGE = ('torchvision', )
IMAGE_LINE = re.compile(r'^([A-Za-z0-9][A-Za-z0-9_.\-]*)(?:==([A-Za-z0-9_.+!\-]+))?$')


class Image:
    """The target image as its package list states it: ``python`` (X.Y.Z) and ``packages``
    ({canonical name: version, or None where the list gives none})."""

    def __init__(self, python: str, packages: dict):
        self.python, self.packages = python, packages

    @property
    def python_minor(self) -> str:
        return '.'.join(self.python.split('.')[:2])

    def marker_env(self) -> dict:
        return dict(TARGET_PLATFORM, python_version=self.python_minor,
                    python_full_version=self.python)

    def requirement_line(self, name: str) -> str:
        version = self.packages[name]
        return name if version is None else f'{name}=={version}'


def valid_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def read_image(path: str) -> Image:
    """The image's list (``python==X.Y.Z``, then ``name`` or ``name==version`` a line, ``#``
    comments): every wrong line in one error naming the file."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as error:
        raise SystemExit(f'build_gpu_kit.py: cannot read the image package list {path}: '
                         f'{error.strerror} (see tools/device/example_image_packages.txt)')
    python, packages, problems = None, {}, []
    for number, line in enumerate(lines, 1):
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        match = IMAGE_LINE.match(line)
        if not match:
            problems.append(f'line {number}: {line!r} is not `name` or `name==version`')
            continue
        name, version = canonicalize_name(match.group(1)), match.group(2)
        if name == 'python':
            if not version or not re.fullmatch(r'3\.\d+\.\d+', version):
                problems.append(f'line {number}: the Python line must be python==3.Y.Z')
            python = version
        elif name in packages:
            problems.append(f'line {number}: {name} is listed twice')
        elif version is not None and not valid_version(version):
            problems.append(f'line {number}: {version!r} is not a version')
        else:
            packages[name] = version
    if python is None and not any('Python line' in p for p in problems):
        problems.append("no 'python==X.Y.Z' line (the image's Python)")
    if problems:
        raise SystemExit(f'build_gpu_kit.py: {path}: ' + '; '.join(problems))
    return Image(python, packages)


def read_pins(path: str) -> dict:
    pins = {}
    with open(path) as f:
        for line in f:
            match = re.match(r'^([A-Za-z0-9_.\-]+)==([^\s#]+)', line)
            if match:
                pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def wheel_metadata(path: str) -> email.message.Message:
    with zipfile.ZipFile(path) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith('.dist-info/METADATA'))
        return email.message_from_bytes(wheel.read(name))


def requirements(path: str, marker_env: dict) -> list:
    """The requirements of a wheel that apply to the target (no extras)."""
    reqs = [Requirement(r) for r in wheel_metadata(path).get_all('Requires-Dist') or []]
    return [r for r in reqs if r.marker is None or r.marker.evaluate(marker_env)]


def pip_download(spec: str, dest: str, python_minor: str) -> str:
    """Download one binary wheel for the target; returns its path."""
    before = set(os.listdir(dest))
    platforms = [arg for p in PLATFORMS for arg in ('--platform', p)]
    subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--no-deps',
                    '--only-binary=:all:', '--python-version', python_minor,
                    '--implementation', 'cp', *platforms, '-d', dest, spec], check=True)
    new = sorted(set(os.listdir(dest)) - before)
    if len(new) != 1:
        raise RuntimeError(f'pip download {spec} saved {new or "nothing new"} in {dest}')
    return osp.join(dest, new[0])


def rewrite_wheel(src: str, dest_dir: str, name: str, version: str, extra: dict) -> str:
    """Copy a pure-Python wheel as ``name`` ``version`` with the files ``extra`` (archive
    path -> bytes) added, its RECORD rebuilt."""
    dist_info = f'{name}-{version}.dist-info'
    files = {}
    with zipfile.ZipFile(src) as wheel:
        for item in wheel.namelist():
            head, _, tail = item.partition('/')
            if head.endswith('.dist-info'):
                if tail == 'RECORD':
                    continue
                item_out = f'{dist_info}/{tail}'
            else:
                item_out = item
            data = wheel.read(item)
            if tail == 'METADATA' and head.endswith('.dist-info'):
                data = re.sub(rb'(?m)^Name: .*$', f'Name: {name}'.encode(), data, count=1)
                data = re.sub(rb'(?m)^Version: .*$', f'Version: {version}'.encode(), data,
                              count=1)
            files[item_out] = data
    files.update(extra)
    record = []
    for item, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
        record.append(f'{item},sha256={digest},{len(data)}')
    record.append(f'{dist_info}/RECORD,,')
    files[f'{dist_info}/RECORD'] = ('\n'.join(record) + '\n').encode()
    out = osp.join(dest_dir, f'{name}-{version}-py3-none-any.whl')
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as wheel:
        for item, data in files.items():
            wheel.writestr(item, data)
    return out


def build_mmcv(dest: str, work: str) -> str:
    """mmcv 2.1.0 from its sdist without ops (pure Python), with the stand-in ``_ext``."""
    sdist_dir = osp.join(work, 'mmcv_sdist')
    os.makedirs(sdist_dir)
    # MMCV_WITH_OPS=1 while pip reads the sdist's metadata (no compiling): without ops its
    # setup.py names the distribution mmcv-lite, which pip refuses for 'mmcv'.
    subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--no-deps',
                    '--no-binary=:all:', '--no-build-isolation', '-d', sdist_dir,
                    f'mmcv=={MMCV_VERSION}'], check=True, env={**os.environ, 'MMCV_WITH_OPS': '1'})
    (archive, ) = os.listdir(sdist_dir)
    shutil.unpack_archive(osp.join(sdist_dir, archive), sdist_dir)
    source = osp.join(sdist_dir, f'mmcv-{MMCV_VERSION}')
    built = osp.join(work, 'mmcv_wheel')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-cache-dir',
                    '--no-build-isolation', '-w', built, source], check=True,
                   env={**os.environ, 'MMCV_WITH_OPS': '0'})
    (lite, ) = os.listdir(built)
    with open(osp.join(HERE, 'mmcv_ext_standin.py'), 'rb') as f:
        standin = f.read()
    return rewrite_wheel(osp.join(built, lite), dest, 'mmcv', MMCV_VERSION + MMCV_LOCAL,
                         {'mmcv/_ext.py': standin})


def copy_checkout(work: str) -> str:
    """The checkout's files (tracked and untracked-not-ignored) copied to ``work``: building
    in place would turn an editable install's point3d_mm/.mim links into copies."""
    listed = subprocess.run(['git', '-C', ROOT, 'ls-files', '-z', '--cached', '--others',
                             '--exclude-standard'], capture_output=True, check=True).stdout
    dest = osp.join(work, 'point3d_mm_src')
    for name in listed.decode().split('\0'):
        if name and osp.isfile(osp.join(ROOT, name)):
            os.makedirs(osp.dirname(osp.join(dest, name)), exist_ok=True)
            shutil.copy2(osp.join(ROOT, name), osp.join(dest, name))
    return dest


def source_hash() -> str:
    """sha256 over point3d_mm's Python files (gpu_check.py compares it with the checkout)."""
    digest = hashlib.sha256()
    package = osp.join(ROOT, 'point3d_mm')
    for folder, dirs, names in sorted(os.walk(package)):
        dirs[:] = sorted(d for d in dirs if d not in ('__pycache__', '.mim'))
        for name in sorted(n for n in names if n.endswith('.py')):
            path = osp.join(folder, name)
            digest.update(osp.relpath(path, package).encode())
            with open(path, 'rb') as f:
                digest.update(f.read())
    return digest.hexdigest()


def build(out: str, image_list: str) -> dict:
    # Imported here: gpu_check.py imports this module for source_hash() before point3d_mm is
    # importable on the GPU machine.
    from point3d_mm.utils.fileio import atomic_folder
    image = read_image(image_list)
    marker_env = image.marker_env()
    pins = read_pins(osp.join(ROOT, 'requirements', 'constraints.txt'))
    work = tempfile.mkdtemp(prefix='gpu_kit_')
    try:
        with atomic_folder(out) as kit:
            subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
                            '--no-build-isolation', '-w', kit, copy_checkout(work)], check=True)
            wheels = {'point3d-mm': osp.join(kit, os.listdir(kit)[0])}
            queue = (requirements(wheels['point3d-mm'], marker_env)
                     + [Requirement(r) for r in EXTRA_ROOTS + DIRECT_IMAGE])
            used_image = {n for n in OPTIONAL_IMAGE if n in image.packages}
            skipped = {}
            while queue:
                req = queue.pop(0)
                name = canonicalize_name(req.name)
                if name in wheels:
                    continue
                if name in NOT_CARRIED:
                    skipped[name] = NOT_CARRIED[name]
                elif name in image.packages and name not in FORCE_CARRY:
                    used_image.add(name)
                else:
                    wheels[name] = (build_mmcv(kit, work) if name == 'mmcv' else pip_download(
                        f'{req.name}=={pins[name]}' if name in pins else str(req), kit,
                        image.python_minor))
                    queue += requirements(wheels[name], marker_env)
            problems = check_closure(wheels, image.packages, marker_env)
            if problems:
                raise SystemExit('build_gpu_kit.py: the kit is incomplete:\n  '
                                 + '\n  '.join(problems))
            versions = {name: wheel_metadata(path)['Version']
                        for name, path in sorted(wheels.items())}
            head = subprocess.run(['git', '-C', ROOT, 'rev-parse', 'HEAD'], capture_output=True,
                                  text=True).stdout.strip()
            relied_on = [image.requirement_line(n) for n in sorted(used_image)]
            manifest = dict(python=f'cp{image.python_minor.replace(".", "")} manylinux x86_64',
                            python_version=image.python_minor, image_python=image.python,
                            image_list=osp.basename(image_list), wheels=versions,
                            files=sorted(osp.basename(p) for p in wheels.values()),
                            image_requirements=relied_on, not_carried=skipped,
                            git_head=head, point3d_mm_source_sha256=source_hash())
            with open(osp.join(kit, 'manifest.json'), 'w') as f:
                json.dump(manifest, f, indent=1)
            with open(osp.join(kit, 'image_requirements.txt'), 'w') as f:
                f.write('\n'.join(relied_on) + '\n')
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_closure(wheels: dict, image: dict, marker_env: dict) -> list:
    """Every requirement of every kit wheel: met by the kit, the image (at its listed version,
    where the list gives one) or NOT_CARRIED."""
    versions = {name: Version(wheel_metadata(path)['Version']) for name, path in wheels.items()}
    problems = []
    for owner, path in wheels.items():
        for req in requirements(path, marker_env):
            name = canonicalize_name(req.name)
            if name in versions:
                if not req.specifier.contains(versions[name], prereleases=True):
                    problems.append(f'{owner} needs {req}, the kit has {versions[name]}')
            elif name in image:
                if image[name] is not None and not req.specifier.contains(
                        Version(image[name]), prereleases=True):
                    problems.append(f'{owner} needs {req}, the image has {image[name]}')
            elif name not in NOT_CARRIED:
                problems.append(f'{owner} needs {req}: neither in the kit nor in the image')
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--image', required=True, metavar='FILE',
                        help="the GPU image's Python and packages, one a line (example: "
                        'tools/device/example_image_packages.txt)')
    parser.add_argument('--out', default=osp.join(ROOT, '.gpu_kit'))
    args = parser.parse_args()
    manifest = build(args.out, args.image)
    print(json.dumps(manifest['wheels'], indent=1))
    print(f'not carried: {", ".join(manifest["not_carried"])}')


if __name__ == '__main__':
    main()
