"""Property-based fuzzing (hypothesis) of what users feed the evaluation tools: linker
settings through the registry (``--linker``) and the readers of other detectors' files
(:func:`~point3d_mm.evaluation.functional.peer_formats.load_detections`).

Every input is either accepted (and then linked or read without error) or refused with one
``ValueError`` line (``UnsafePickleError`` for a pickle of other globals) naming the linker
(or setting) or the file; nothing else escapes. The
profile follows tests/reliability/test_fuzz_parsers.py: ``P3D_FUZZ_PROFILE=quick`` (default,
1,000 examples per test, derandomized, in ``make test``) or ``long`` (10,000, slow-marked).
"""
import math
import os
import os.path as osp
import pickle
import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from point3d_mm.evaluation import build_linker
from point3d_mm.evaluation.functional.peer_formats import load_detections
from point3d_mm.utils.safe_pickle import UnsafePickleError

PROFILE = os.environ.get('P3D_FUZZ_PROFILE', 'quick')
if PROFILE not in ('quick', 'long'):
    raise ValueError(f'P3D_FUZZ_PROFILE must be quick or long, got {PROFILE!r}')
if PROFILE == 'long':
    pytestmark = pytest.mark.slow
EXAMPLES = settings(max_examples=1_000 if PROFILE == 'quick' else 10_000, deadline=None,
                    derandomize=PROFILE == 'quick', database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


# ------------------------------------------------------------------ linker settings
def _number(low, high=math.inf):
    return lambda v: (type(v) in (int, float) and math.isfinite(v) and low <= v <= high)


def _integer(low, high):
    return lambda v: type(v) is int and low <= v <= high


# The types and ranges the linkers accept, restated here by hand (not read from SETTINGS).
SHARED = dict(score_thr=_number(0), frame_nms_thr=_number(0, 1),
              max_per_frame=_integer(1, 10 ** 6), iou_weight=_number(0),
              link_iou_thr=_number(0, 1), max_gap=_integer(0, 10 ** 6), trim_score=_number(0),
              switch_penalty=_number(0), min_length=_integer(1, 10 ** 6),
              tube_nms_thr=lambda v: v is None or _number(0, 1)(v),
              protocol=lambda v: v in ('act', 'voc'))
EXPECTED = dict(TubeLinker=dict(SHARED, motion_window=_integer(1, 1000)),
                ViterbiTubeLinker=dict(SHARED, score_product_weight=_number(0)))
NAMES = sorted(set(EXPECTED['TubeLinker']) | set(EXPECTED['ViterbiTubeLinker'])) + [
    'max_gapp', 'type_', 'Score_thr']
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 12), st.integers(),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(-0.5, 1.5),
    st.sampled_from(['act', 'voc', 'coco', '', '1']), st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))
TYPES = st.one_of(st.sampled_from(['TubeLinker', 'ViterbiTubeLinker'] * 3),
                  st.sampled_from(['Nope', '', 'tubelinker']), st.none(), st.integers(0, 3))
# Two crossing actors with gaps, over 12 frames: every setting has something to act on.
TINY = np.array([[0, f, c, s, x, 10, x + 40, 90] for f in range(1, 13) if f % 5
                 for c, s, x in ((0, 0.9 - 0.02 * f, 4 * f), (0, 0.6, 60 - 4 * f),
                                 (1, 0.3, 20))], dtype=np.float64)


@EXAMPLES
@given(kind=TYPES, given_settings=st.dictionaries(st.sampled_from(NAMES), VALUES,
                                                  max_size=6))
def test_linker_settings_are_built_or_refused_in_one_line(kind, given_settings):
    config = dict(given_settings, type=kind)
    if kind not in EXPECTED:
        with pytest.raises(ValueError, match=r'^unknown linker type .*; registered linkers: '
                           r'TubeLinker, ViterbiTubeLinker$'):
            build_linker(config)
        return
    rules = EXPECTED[kind]
    unknown = [name for name in given_settings if name not in rules]
    wrong = [name for name, value in given_settings.items()
             if name in rules and not rules[name](value)]
    if not unknown and not wrong:
        linker = build_linker(config)
        assert type(linker).__name__ == kind
        assert all(getattr(linker, name) == value for name, value in given_settings.items())
        tubes = linker.link_videos(TINY, ['v'])
        assert all(np.isfinite(tube[2]).all() for tube in tubes.get('v', []))
        return
    with pytest.raises(ValueError) as info:
        build_linker(config)
    message = str(info.value)
    assert message.startswith(f'{kind}: ') and '\n' not in message
    for name in unknown:
        assert repr(name) in message
    for name in rules:
        flagged = f' {name}=' in message or f'){name}=' in message
        assert flagged == (name in wrong), (name, message)


# ------------------------------------------------------------------ peer readers
GT = dict(labels=['run', 'jump'], nframes=dict(a=12, b=10),
          resolution=dict(a=(120, 160), b=(120, 160)), train_videos=[[]],
          test_videos=[['a', 'b']],
          gttubes=dict(a={0: [np.array([[f, 10 + 3 * f, 20, 50 + 3 * f, 80]
                                        for f in range(1, 13)], np.float32)]},
                       b={1: [np.array([[f, 60 - 2 * f, 20, 100 - 2 * f, 80]
                                        for f in range(2, 10)], np.float32)]}))
# Near-valid values: most inputs get past the first checks to the deeper ones.
CELLS = st.one_of(st.sampled_from([0, 1, 2, 3, -1, 0.5, 5, 12, 13, 40.0, 80.0, 1e20]),
                  st.sampled_from([math.nan, math.inf, -math.inf]),
                  st.floats(allow_nan=False, allow_infinity=False, width=32))
ROWS = st.lists(st.lists(CELLS, min_size=6, max_size=9), max_size=12).map(
    lambda rows: np.array([r + [0] * (9 - len(r)) for r in rows], np.float64).reshape(-1, 9)
    if rows else np.zeros((0, 9)))
ARRAYS = st.tuples(ROWS, st.integers(5, 9)).map(lambda a: a[0][:, :a[1]])
OBJECTS = st.recursive(
    st.one_of(st.none(), st.booleans(), CELLS, st.text(max_size=3), ARRAYS),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner, inner),
                            st.dictionaries(st.one_of(st.integers(-1, 2), st.text(max_size=2)),
                                            inner, max_size=3)),
    max_leaves=8)
TOKENS = st.one_of(CELLS.map(repr), st.sampled_from(['a', 'b', 'zz', '', 'nan', '1e999', '-']),
                   st.text(max_size=3))
LINES = st.lists(st.lists(TOKENS, max_size=9), max_size=8)
BYTES = st.binary(max_size=64)
# A valid bare array (video index into the split, frame, label, score, box): the readers of
# MOC and mmaction2 folders then go on to the tube files beside it.
VALID = st.just(np.array([[v, f, v, 0.9, 10, 20, 50, 80] for v in (0, 1) for f in (2, 3, 4)],
                         np.float64))


def _text(lines, sep):
    return '\n'.join(sep.join(line) for line in lines).encode('utf-8', 'surrogatepass')


def _refused_naming(path, fmt, folder=None):
    """``load_detections`` reads the file, or refuses it in one line naming it."""
    try:
        read = load_detections(path, GT, fmt=fmt)
    except (ValueError, FileNotFoundError, UnsafePickleError) as error:
        message = str(error)
        assert '\n' not in message, message
        assert message.startswith(path) or (folder and message.startswith(folder)), message
        return
    assert read.detections.shape[1] == 8 and np.isfinite(read.detections).all()


# Thousands of small files are written and removed: in memory where the system offers it
# (removing a folder on a disk can cost 10 ms).
_MEMORY = '/dev/shm'
_SCRATCH_ROOT = {}


@pytest.fixture(scope='module', autouse=True)
def scratch_root():
    root = tempfile.mkdtemp(prefix='fuzz_peer_', dir=_MEMORY if os.access(_MEMORY, os.W_OK)
                            else None)
    _SCRATCH_ROOT['path'] = root
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _scratch():
    return tempfile.mkdtemp(dir=_SCRATCH_ROOT['path'])


@EXAMPLES
@given(content=st.one_of(LINES.map(lambda lines: _text(lines, ',')), BYTES),
       fmt=st.sampled_from(['ava_csv', 'yowov3', 'point3d']),
       header=st.booleans())
def test_csv_readers(content, fmt, header):
    folder = _scratch()
    try:
        path = osp.join(folder, 'dets.csv')
        with open(path, 'wb') as f:
            if header and fmt == 'point3d':
                f.write(b'video,frame,label,score,x1,y1,x2,y2\n')
            f.write(content)
        _refused_naming(path, fmt)
    finally:
        shutil.rmtree(folder)


@EXAMPLES
@given(files=st.lists(st.tuples(
    st.one_of(st.tuples(st.sampled_from(['a', 'b', 'zz', 'a_b']), st.integers(-1, 14)).map(
        lambda t: f'{t[0]}_{t[1]:05d}.txt'), st.sampled_from(['x.txt', '_.txt', 'a_.txt',
                                                              'a_00001.dat'])),
    st.one_of(LINES.map(lambda lines: _text(lines, ' ')), BYTES)), max_size=4))
def test_yowo_folder_reader(files):
    folder = _scratch()
    try:
        path = osp.join(folder, 'yowo')
        os.makedirs(path)
        for name, content in files:
            with open(osp.join(path, name), 'wb') as f:
                f.write(content)
        _refused_naming(path, None)
    finally:
        shutil.rmtree(folder)


def _pickle(path, value):
    with open(path, 'wb') as f:
        if isinstance(value, bytes):
            f.write(value)
        else:
            pickle.dump(value, f, protocol=4)


@EXAMPLES
@given(frames=st.one_of(VALID, VALID, ARRAYS, OBJECTS, BYTES),
       tubes=st.lists(st.tuples(st.sampled_from(['a', 'b']), st.one_of(OBJECTS, BYTES)),
                      max_size=2, unique_by=lambda t: t[0]),
       as_folder=st.booleans())
def test_moc_reader(frames, tubes, as_folder):
    folder = _scratch()
    try:
        moc = osp.join(folder, 'moc')
        os.makedirs(moc)
        _pickle(osp.join(moc, 'frame_detections.pkl'), frames)
        for video, value in tubes:
            _pickle(osp.join(moc, f'{video}_tubes.pkl'), value)
        path = moc if as_folder else osp.join(moc, 'frame_detections.pkl')
        _refused_naming(path, 'moc', folder=moc)
    finally:
        shutil.rmtree(folder)


@EXAMPLES
@given(frames=st.one_of(VALID, VALID, ARRAYS, OBJECTS, BYTES),
       tubes=st.one_of(st.none(), OBJECTS, BYTES),
       fmt=st.sampled_from(['mmaction2', 'point3d']))
def test_pickle_readers(frames, tubes, fmt):
    folder = _scratch()
    try:
        path = osp.join(folder, 'r-formated.pkl')
        _pickle(path, frames if fmt == 'mmaction2' or not isinstance(frames, dict) else
                dict(detections=frames, videos=['a', 'b']))
        if tubes is not None:
            _pickle(osp.join(folder, 'r_vid_dets.pkl'), tubes)
        _refused_naming(path, fmt, folder=folder)
    finally:
        shutil.rmtree(folder)
