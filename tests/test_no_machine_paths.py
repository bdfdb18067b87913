"""No tracked file names a particular machine or the project's tracker: no absolute home,
workspace or interpreter path (a user's or a lent machine's folders, a pyenv or conda
install) and no issue number, outside the files that build such strings on purpose. A
project file speaks of the project: what a machine has is an input (an argument, a file the
user passes, something found at run time)."""
import os.path as osp
import re
import subprocess

import pytest
from tool_helpers import REPO_ROOT

MACHINE_PATH = re.compile(r'''
    (?<![\w.:/~$-])                                   # a path's start, not inside a URL
    (?: /(?:root|work|workspace)(?=[/\s'"`),;:]|$)     # root's home, workspace folders
      | /(?:home|Users)/[\w.-]+                       # a user's home
      | [A-Za-z]:\\Users\\                            # a Windows home
      | \S*\.pyenv/versions/                          # interpreters of one machine
      | \S*/(?:miniconda|anaconda|miniforge)3?/
      | /opt/conda/
      | /opt/[\w.-]+/\.venv/
    )''', re.X)
ISSUE_NUMBER = re.compile(r'\b(?:issues?|PR|pull request) ?#?\d+\b|\(#\d+\)', re.I)
#: Files that build such strings on purpose, with the reason.
BUILT_ON_PURPOSE = {
    'tests/test_no_machine_paths.py': 'examples of what the patterns find',
}


def findings(text: str) -> list:
    """(line number, what was found) for every machine path and issue number in ``text``."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for pattern in (MACHINE_PATH, ISSUE_NUMBER):
            found += [(number, match.group(0)) for match in pattern.finditer(line)]
    return found


@pytest.mark.parametrize('text', [
    'python312=/root/.pyenv/versions/3.12.1/bin/python3.12',
    '# as /work/.library/device/KINDS.md listed them',
    'cd /home/alice/point3d && make test',
    'data_root = "/Users/bob/data"',
    r'C:\Users\carol\data',
    'PYTHON=~/.pyenv/versions/3.12.1/bin/python',
    'source /opt/miniconda3/bin/activate',
    '/opt/conda/bin/python tools/train.py',
    'at /opt/torch/.venv/bin/python3',
    'the root folder /root',
    '"""The device check of issue #25: install the kit',
    'fixed in issue 33',
    'see PR #12',
    'kit carries importlib_metadata (#25)',
])
def test_patterns_find_machine_paths_and_issue_numbers(text):
    assert findings(text), text


@pytest.mark.parametrize('text', [
    'https://github.com/open-mmlab/mmcv/issues/2341',
    'https://example.org/home/user/file',
    'work_dirs/demo/home/x',
    'os.path.join(root, "work", "x")',
    '/tmp/mmaction2-1.2.0 and /dev/null, /proc/cpuinfo, #!/usr/bin/env bash',
    '--out "$OUT/work/x"',
    'the network works/issues with 3 cores; # 1 line',
    'colour #1f77b4',
])
def test_patterns_leave_project_and_system_paths(text):
    assert not findings(text), findings(text)


def test_no_tracked_file_names_a_machine_or_an_issue():
    if not osp.isdir(osp.join(REPO_ROOT, '.git')):
        pytest.skip('not a git checkout: no list of tracked files')
    listed = subprocess.run(['git', '-C', REPO_ROOT, 'ls-files', '-z'], capture_output=True,
                            check=True).stdout.decode().split('\0')
    problems = []
    for name in filter(None, listed):
        path = osp.join(REPO_ROOT, name)
        if name in BUILT_ON_PURPOSE or not osp.isfile(path):
            continue
        with open(path, 'rb') as f:
            data = f.read()
        if b'\0' in data[:8192]:  # binary
            continue
        problems += [f'{name}:{number}: {found}'
                     for number, found in findings(data.decode('utf-8', 'replace'))]
    assert not problems, ('machine paths or issue numbers in tracked files (make it an '
                          'argument, or find it at run time):\n' + '\n'.join(problems))
