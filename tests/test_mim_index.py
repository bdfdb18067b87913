"""mim's view of point3d_mm: `mim search` lists every config (model-index.yml and the
metafiles), `mim list` shows the package, `mim run` finds the tools in tools/'s subfolders;
and the launch scripts (tools/dist_*.sh, tools/slurm_*.sh) pick the checkout's virtual
environment.

The launch scripts are run with a stand-in interpreter (and `srun`) that print their
arguments, so nothing trains or tests here.
"""
import glob
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import yaml

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MIM = osp.join(osp.dirname(sys.executable), 'mim')
LAUNCHERS = ('dist_train.sh', 'dist_test.sh', 'slurm_train.sh', 'slurm_test.sh')


def runnable_configs():
    """Config files under configs/ except the _base_ fragments, relative to the repo."""
    paths = glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    return sorted(osp.relpath(p, REPO) for p in paths
                  if '_base_' not in osp.relpath(p, REPO).split(os.sep))


def indexed_models():
    """``{name: model entry}`` of every metafile that model-index.yml imports."""
    with open(osp.join(REPO, 'model-index.yml')) as f:
        imports = yaml.safe_load(f)['Import']
    models = {}
    for metafile in imports:
        with open(osp.join(REPO, metafile)) as f:
            for model in yaml.safe_load(f)['Models']:
                models[model['Name']] = model
    return models


def mim(*args, timeout=120):
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    return subprocess.run([MIM, *args], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=timeout)


def test_index_lists_every_config_once():
    models = indexed_models()
    assert sorted(m['Config'] for m in models.values()) == runnable_configs()
    for name, model in models.items():
        assert name == osp.splitext(osp.basename(model['Config']))[0]
        assert 'Weights' not in model  # no config has published weights


def test_results_only_where_measured():
    # docs/model_zoo.md, "Measured with point3d_mm's tools".
    measured = {'point3d_demo_synthetic': (93.63, 92.49),
                'point3d_demo_synthetic_t1': (13.36, 11.39),
                'point3d_demo_synthetic_twa_l2t': (83.15, 82.09),
                'point3d_demo_synthetic_twa_raw': (92.53, 91.25)}
    for name, model in indexed_models().items():
        if name not in measured:
            assert 'Results' not in model, name
            continue
        metrics = model['Results'][0]['Metrics']
        assert (metrics['frame-mAP@0.5'], metrics['video-mAP@0.5']) == measured[name]


def test_mim_search_lists_every_config():
    done = mim('search', 'point3d_mm')
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for config in runnable_configs():
        name = osp.splitext(osp.basename(config))[0]
        assert f'config id: {name}' in done.stdout, name
    assert re.search(r'synthetic actions/frame-map@0\.5 +93\.63\n', done.stdout)


def test_mim_list_shows_the_package():
    done = mim('list')
    assert done.returncode == 0, done.stderr[-2000:]
    # mim lists it once it ships a model index, by its normalised name point3d-mm.
    names = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    assert 'point3d-mm' in names or 'point3d_mm' in names


def test_mim_run_resolves_every_tool_to_one_script():
    from mim.utils import get_installed_path, recursively_find
    tools = osp.join(get_installed_path('point3d_mm'), '.mim', 'tools')
    scripts = glob.glob(osp.join(REPO, 'tools', '**', '*.py'), recursive=True)
    assert len(scripts) > 10
    for script in scripts:
        name = osp.basename(script)
        # `mim run` walks .mim/tools for NAME.py (a link to tools/ in an editable install).
        found = recursively_find(tools, name)
        assert [osp.relpath(f, tools) for f in found] == [osp.relpath(script, osp.join(
            REPO, 'tools'))], name


@pytest.mark.slow
@pytest.mark.parametrize('tool', ['eval_detections', 'analyze_errors'])
def test_mim_run_finds_tools_in_subfolders(tool):
    # mim 0.3.9 answers a bare `--help` itself and refuses codebases outside its hard-coded
    # list of official ones (mim/click/customcommand.py); after `--` it goes to the tool.
    done = mim('run', 'point3d_mm', tool, '--', '--help')
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f'{os.sep}{tool}.py' in done.stdout and f'usage: {tool}.py' in done.stdout


@pytest.mark.parametrize('script', LAUNCHERS)
def test_launcher_syntax(script):
    subprocess.run(['bash', '-n', osp.join(REPO, 'tools', script)], check=True)


def fake_program(path, name):
    """An executable that prints its name and arguments, one per line."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(f'#!/bin/sh\necho {name}\nfor a in "$@"; do echo "$a"; done\n')
    os.chmod(path, 0o755)


@pytest.fixture
def checkout(tmp_path):
    """A checkout with the launch scripts and a stand-in .venv/bin/python, `python` and
    `srun` on PATH."""
    for script in LAUNCHERS:
        os.makedirs(tmp_path / 'repo' / 'tools', exist_ok=True)
        os.link(osp.join(REPO, 'tools', script), tmp_path / 'repo' / 'tools' / script)
    fake_program(tmp_path / 'repo' / '.venv' / 'bin' / 'python', 'venv-python')
    fake_program(tmp_path / 'bin' / 'python', 'path-python')
    fake_program(tmp_path / 'bin' / 'srun', 'srun')
    return tmp_path


def launch(checkout, script, *args):
    env = {k: v for k, v in os.environ.items() if k != 'PYTHON'}
    env['PATH'] = f'{checkout / "bin"}{os.pathsep}{env["PATH"]}'
    done = subprocess.run(['bash', str(checkout / 'repo' / 'tools' / script), *args],
                          capture_output=True, text=True, env=env, timeout=60, check=True)
    return done.stdout.splitlines()


@pytest.mark.parametrize('script, args, tail', [
    ('dist_train.sh', ['cfg.py', '2', '--seed', '1'],
     ['train.py', 'cfg.py', '--launcher', 'pytorch', '--seed', '1']),
    ('dist_test.sh', ['cfg.py', 'ckpt.pth', '1', '--dump', 'a b.pkl'],
     ['test.py', 'cfg.py', 'ckpt.pth', '--launcher', 'pytorch', '--dump', 'a b.pkl']),
    ('slurm_train.sh', ['part', 'job', 'cfg.py', 'work', '--seed', '1'],
     ['train.py', 'cfg.py', '--work-dir=work', '--launcher', 'slurm', '--seed', '1']),
    ('slurm_test.sh', ['part', 'job', 'cfg.py', 'ckpt.pth', '--dump', 'a b.pkl'],
     ['test.py', 'cfg.py', 'ckpt.pth', '--launcher', 'slurm', '--dump', 'a b.pkl']),
])
def test_launchers_use_the_venv_python(checkout, script, args, tail):
    words = launch(checkout, script, *args)
    venv_python = str(checkout / 'repo' / '.venv' / 'bin' / 'python')
    if script.startswith('slurm'):
        assert words[0] == 'srun' and venv_python in words
    else:
        assert words[0] == 'venv-python' and words[1:3] == ['-m', 'torch.distributed.run']
    assert [osp.basename(words[-len(tail)])] + words[-len(tail) + 1:] == tail
    if script == 'dist_test.sh':
        assert '--nproc_per_node=1' in words


def test_launchers_fall_back_to_python_on_path(checkout):
    os.remove(checkout / 'repo' / '.venv' / 'bin' / 'python')
    assert launch(checkout, 'dist_test.sh', 'cfg.py', 'ckpt.pth', '1')[0] == 'path-python'
    assert 'python' in launch(checkout, 'slurm_test.sh', 'p', 'j', 'cfg.py', 'ckpt.pth')
