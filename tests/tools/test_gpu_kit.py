"""The GPU kit (tools/device/): the image's package list, the kit's closure check, the
device check's reading of pip check, its section order and short record, and the CPU
rehearsal of the whole device check in a fresh environment of the image's Python (slow).
The mmcv stand-in has its own file (test_mmcv_ext_standin.py)."""
import json
import os
import os.path as osp
import subprocess

import pytest
from tool_helpers import REPO_ROOT, load_tool

EXAMPLE_IMAGE = osp.join(REPO_ROOT, 'tools', 'device', 'example_image_packages.txt')
def fake_wheel(folder, name: str, version: str, requires=()) -> str:
    """A wheel holding only its METADATA (what the kit builder reads)."""
    import zipfile
    path = osp.join(folder, f'{name}-{version}-py3-none-any.whl')
    metadata = f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n' + ''.join(
        f'Requires-Dist: {r}\n' for r in requires)
    with zipfile.ZipFile(path, 'w') as wheel:
        wheel.writestr(f'{name}-{version}.dist-info/METADATA', metadata)
    return path


def test_kit_closure_names_each_unmet_requirement(tmp_path):
    """A kit wheel's requirement must be met by the kit (at a matching version), the image
    (at its listed version, where the list gives one) or a requirement left out on purpose;
    markers of other platforms and extras do not count."""
    build = load_tool('device/build_gpu_kit.py')
    wheels = {
        'mmengine': fake_wheel(tmp_path, 'mmengine', '0.10.7', [
            'addict', 'numpy<2', 'opencv-python>=3', 'regex; sys_platform == "win32"',
            'yapf', 'scipy>=99']),
        'addict': fake_wheel(tmp_path, 'addict', '2.4.0'),
        'mmdet': fake_wheel(tmp_path, 'mmdet', '3.3.0', [
            'addict>=3', 'shapely', 'pytest; extra == "tests"',
            'tomli; python_version < "3.11"'])}
    image = build.Image('3.12.3', {'numpy': '2.5.2', 'scipy': None})
    assert build.check_closure(wheels, image.packages, image.marker_env()) == [
        'mmengine needs numpy<2, the image has 2.5.2',
        'mmengine needs yapf: neither in the kit nor in the image',
        'mmdet needs addict>=3, the kit has 2.4.0',
        'mmdet needs shapely: neither in the kit nor in the image']
    # the same wheels for an image of Python 3.10: tomli's marker applies
    old = build.Image('3.10.14', image.packages)
    assert 'mmdet needs tomli; python_version < "3.11": neither in the kit nor in the image' \
        in build.check_closure(wheels, old.packages, old.marker_env())


def test_image_list_is_read_with_its_python_and_pins():
    build = load_tool('device/build_gpu_kit.py')
    image = build.read_image(EXAMPLE_IMAGE)
    assert (image.python, image.python_minor) == ('3.12.3', '3.12')
    assert image.marker_env()['python_full_version'] == '3.12.3'
    assert image.packages['torch'] == '2.11.0' and image.packages['numpy'] == '2.5.2'
    assert image.packages['scipy'] is None and 'typing-extensions' in image.packages
    assert image.requirement_line('torchvision') == 'torchvision==0.26.0'
    assert image.requirement_line('scipy') == 'scipy'
    with open(EXAMPLE_IMAGE) as f:
        lines = [line for line in f if line.strip() and not line.startswith('#')]
    assert len(image.packages) == len(lines) - 1  # every line but python's


def test_image_list_refuses_bad_lines_naming_the_file(tmp_path):
    build = load_tool('device/build_gpu_kit.py')
    path = tmp_path / 'image.txt'
    path.write_text('# comment\nnumpy==2.5.2\ntorch >= 2\nNumPy\nscipy==not-a-version\n')
    with pytest.raises(SystemExit) as error:
        build.read_image(str(path))
    assert str(error.value) == (
        f"build_gpu_kit.py: {path}: line 3: 'torch >= 2' is not `name` or `name==version`; "
        "line 4: numpy is listed twice; line 5: 'not-a-version' is not a version; "
        "no 'python==X.Y.Z' line (the image's Python)")
    path.write_text('python==3.12\n')
    with pytest.raises(SystemExit, match='line 1: the Python line must be python==3.Y.Z$'):
        build.read_image(str(path))
    with pytest.raises(SystemExit, match=r'cannot read the image package list .*missing\.txt: '
                       r'No such file'):
        build.read_image(str(tmp_path / 'missing.txt'))


def test_pip_check_flags_only_kit_wheels_unmet_requirements():
    check = load_tool('device/gpu_check.py')
    kit = dict(wheels={'mmengine': '0.10.7', 'mmcv': '2.1.0+p3d.standin'},
               not_carried={'opencv-python': 'the image has opencv-python-headless'})
    output = ('mmengine 0.10.7 requires opencv-python, which is not installed.\n'
              'mmcv 2.1.0+p3d.standin requires yapf, which is not installed.\n'
              'jax 0.11.2 requires jaxlib, which is not installed.\n'
              'mmengine 0.10.7 has requirement rich>=99, but you have rich 15.0.0.\n')
    assert check.pip_check_problems(output, kit) == [
        'mmcv 2.1.0+p3d.standin requires yapf, which is not installed.',
        'mmengine 0.10.7 has requirement rich>=99, but you have rich 15.0.0.']


def test_sections_give_what_users_need_first():
    """On a GPU the CUDA tests, UCF101-24's memory at its default batch and the AMP training
    iterations fit the first 300 s of time boxes; every section fits one 600 s call."""
    check = load_tool('device/gpu_check.py')
    full = check.PROFILES['full']
    first = check.SECTIONS[:check.SECTIONS.index('train') + 1]
    assert first == ('install', 'environment', 'cuda_tests', 'train_memory', 'train')
    assert sum(full['timeouts'][name] for name in first) <= 300
    assert sum(full['timeouts'].values()) <= 540
    assert full['memory']['train_memory'] == [(['ucf24'], 6, [])]
    assert full['amp'] and full['train']['iters'] == 20
    for profile in check.PROFILES.values():
        assert set(profile['timeouts']) == set(check.SECTIONS)
        assert set(profile['memory']) == {'train_memory', 'train_memory_all'}
    assert 'tests/tools/test_mmcv_ext_standin.py' in check.TESTS


def test_summary_holds_statuses_and_no_machine_paths(tmp_path):
    check = load_tool('device/gpu_check.py')
    site = str(tmp_path / 'site')
    report = dict(device='cpu', profile='small', git_head='abc', started='2026-12-07T15:00:00Z',
                  wall_s=12.5, all_ok=True, sections=dict(
                      install=dict(status='ok', seconds=1.0, timeout_s=300,
                                   result=dict(kit_wheels=30, site=site)),
                      environment=dict(status='ok', seconds=2.0, timeout_s=300, result=dict(
                          python='3.12.1', torch='2.11.0', point3d_mm=site + '/x.py',
                          kit_matches_checkout=True, image_packages=['numpy==2.5.2'])),
                      cuda_tests=dict(status='ok', seconds=3.0, timeout_s=600, result=dict(
                          counts=dict(passed=2, skipped=1),
                          tests={'a::t1': 'passed', 'a::t2': 'skipped', 'b::t': 'passed'})),
                      train=dict(status='ok', seconds=4.0, timeout_s=900, result=dict(
                          iterations=2, iter_s_median=1.5, losses_finite=True, losses=[1, 2])),
                      speed=dict(status='skipped', output_tail='not in --only'),
                      train_memory_all=dict(status='failed', seconds=5.0, timeout_s=900,
                                            result={'m.json': dict(cases=[{}], failed=[dict(
                                                config='jhmdb', option='fp32', batch=1,
                                                error=f'Traceback\n  File "{check.REPO}/a.py"'
                                                f'\nValueError: at {check.REPO}/b.py\n')])})))
    kit = dict(git_head='abc', wheels={'mmcv': '2.1.0+p3d.standin'}, image_list='list.txt')
    args = check.argparse.Namespace(threads=1, only=None)
    summary = check.summarise(report, kit, args)
    assert str(tmp_path) not in json.dumps(summary) and check.REPO not in json.dumps(summary)
    assert summary['environment'] == dict(python='3.12.1', torch='2.11.0')
    assert summary['kit_matches_checkout'] is True and summary['all_ok'] is True
    assert summary['sections'] == dict(
        install=dict(status='ok', seconds=1.0, timeout_s=300),
        environment=dict(status='ok', seconds=2.0, timeout_s=300),
        cuda_tests=dict(status='ok', seconds=3.0, timeout_s=600,
                        counts=dict(passed=2, skipped=1),
                        by_module=dict(a=dict(passed=1, skipped=1), b=dict(passed=1)),
                        not_passed={'a::t2': 'skipped'}),
        train=dict(status='ok', seconds=4.0, timeout_s=900, iterations=2, iter_s_median=1.5,
                   losses_finite=True),
        speed=dict(status='skipped'),
        train_memory_all=dict(status='failed', seconds=5.0, timeout_s=900, cases=1,
                              failed=['jhmdb fp32 batch 1: ValueError: at b.py']))
    assert summary['host']['cpus'] == os.cpu_count()


def test_committed_rehearsal_record_is_all_ok():
    """docs/gpu_rehearsal.json (``make gpu-rehearsal``): every section ok, the stand-in
    comparison among the tests that ran."""
    check = load_tool('device/gpu_check.py')
    with open(osp.join(REPO_ROOT, 'docs', 'gpu_rehearsal.json')) as f:
        record = json.load(f)
    assert record['device'] == 'cpu' and record['all_ok'] is True
    assert list(record['sections']) == list(check.SECTIONS)
    assert {s['status'] for s in record['sections'].values()} == {'ok'}
    tests = record['sections']['cuda_tests']
    assert set(tests['counts']) <= {'passed', 'skipped'} and tests['counts']['passed'] > 0
    # both stand-in paths against the record of mmcv's compiled kernels, on CPU
    standin = {t: o for t, o in tests['not_passed'].items() if 'test_mmcv_ext_standin' in t}
    assert all('-cuda]' in t or 'compiled_output' in t for t in standin), standin
    assert tests['by_module']['tests.tools.test_mmcv_ext_standin']['passed'] == 5


@pytest.mark.slow
def test_cpu_rehearsal_from_the_kit_alone(tmp_path):
    """`make gpu-rehearsal`: the kit built now, installed with no index into a fresh
    environment of the image's Python beside a CPU stand-in for the GPU image, runs every
    section of the device check on CPU (minutes; the first run also builds that base
    environment). Its record goes to tmp_path, not docs/."""
    out, summary = tmp_path / 'out', tmp_path / 'gpu_rehearsal.json'
    env = {**os.environ, 'REHEARSAL_OUT': str(out), 'REHEARSAL_SUMMARY': str(summary)}
    proc = subprocess.run(['make', '-C', REPO_ROOT, 'gpu-rehearsal'], env=env,
                          capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(osp.join(out, 'gpu_check.json')) as f:
        report = json.load(f)
    check = load_tool('device/gpu_check.py')
    assert list(report['sections']) == list(check.SECTIONS)
    assert {name: s['status'] for name, s in report['sections'].items()} == dict.fromkeys(
        check.SECTIONS, 'ok')
    assert report['sections']['install']['result']['kit_wheels'] >= 10
    assert report['device'] == 'cpu' and report['sections']['train']['result']['iterations'] > 0
    tests = report['sections']['cuda_tests']['result']['tests']
    standin = {t: o for t, o in tests.items() if 'test_mmcv_ext_standin' in t and '-cpu' in t}
    assert standin and set(standin.values()) == {'passed'}, standin
    with open(summary) as f:
        assert json.load(f)['all_ok'] is True
