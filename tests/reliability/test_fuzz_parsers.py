"""Property-based fuzzing of every parser of outside data (hypothesis).

The contract: every input either loads correctly (the result has the documented types and
shapes) or is refused with the project's documented error, a ``ValueError`` (subclasses such
as ``CorruptFrameError``), ``UnsafePickleError``, ``ConfigKeyError`` or ``FileNotFoundError``,
whose message names the file. Anything else (``KeyError``, ``TypeError``, ``OverflowError``,
numpy errors, hangs) is a bug of the parser; each one found is kept below as an ``@example``.

Inputs are generated structures (wrong types, missing keys, odd shapes, NaN, huge and negative
numbers) and byte-mutated copies of real files (../shared/data) or of files we generate.

Profiles (``P3D_FUZZ_PROFILE``): ``quick`` (default; a few hundred examples per parser,
derandomized so CI is reproducible) and ``long`` (>= 10,000 examples per parser; the tests are
then marked slow: ``P3D_FUZZ_PROFILE=long make test-all``). ``P3D_FUZZ_REPORT=<file>`` writes
the number of examples tried per parser as JSON (docs/reliability.md quotes them).
"""
import collections
import copy
import csv
import functools
import io
import json
import os
import os.path as osp
import pickle
import tempfile
import xml.etree.ElementTree as ET
from unittest import mock

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from mmengine.config import Config

from point3d_mm.datasets.preparation.csv_annotations import csv_to_act, read_csv_rows
from point3d_mm.datasets.preparation.cvat import cvat_to_act, read_cvat_video
from point3d_mm.datasets.preparation.multisports import multisports_to_act
from point3d_mm.datasets.preparation.ucf24_corrected import (
    corrected_to_act,
    load_corrected_annotations,
)
from point3d_mm.evaluation.functional.detection_io import load_frame_detections, load_tubes
from point3d_mm.structures.act_format import load_act
from point3d_mm.utils.config_checks import ConfigKeyError, load_config
from point3d_mm.utils.safe_pickle import UnsafePickleError, safe_pickle_load
from point3d_mm.utils.video import MAX_FRAME_PIXELS, OpenCVVideoReader, iter_numbered_frames

PROFILE = os.environ.get('P3D_FUZZ_PROFILE', 'quick')
if PROFILE not in ('quick', 'long'):
    raise ValueError(f'P3D_FUZZ_PROFILE must be quick or long, got {PROFILE!r}')
_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
               HealthCheck.function_scoped_fixture]
# No example database: nothing is written into the checkout, and CI replays the same examples.
settings.register_profile('quick', max_examples=100, deadline=None, derandomize=True,
                          database=None, suppress_health_check=_SUPPRESSED)
settings.register_profile('long', max_examples=10_000, deadline=None, database=None,
                          print_blob=True, suppress_health_check=_SUPPRESSED)
if PROFILE == 'long':
    pytestmark = pytest.mark.slow

#: Examples tried per parser in this run (explicit examples and shrinking included).
TRIED: collections.Counter = collections.Counter()
#: The documented refusals.
DOCUMENTED = (ValueError, UnsafePickleError, ConfigKeyError, FileNotFoundError)
SCRATCH_NAME = 'fuzz_input'


def budget(quick: int, long: int = 10_000) -> settings:
    """The active profile with this test's number of examples."""
    return settings(settings.get_profile(PROFILE),
                    max_examples=quick if PROFILE == 'quick' else long)


@pytest.fixture(scope='module', autouse=True)
def report_counts():
    yield
    report = os.environ.get('P3D_FUZZ_REPORT')
    if report:
        with open(report, 'w') as f:
            json.dump({'profile': PROFILE, 'examples': dict(sorted(TRIED.items()))}, f,
                      indent=1)


@pytest.fixture(scope='module')
def scratch(tmp_path_factory) -> str:
    """One folder for every example's input file (each example overwrites it)."""
    return str(tmp_path_factory.mktemp('fuzz'))


def write(folder: str, suffix: str, data: bytes) -> str:
    path = osp.join(folder, SCRATCH_NAME + suffix)
    with open(path, 'wb') as f:
        f.write(data)
    return path


def load_or_refuse(call, *names: str):
    """``call()``'s result, or None when it refuses with a documented error naming one of
    ``names`` (the file); any other exception propagates: a bug."""
    try:
        return call()
    except DOCUMENTED as error:
        message = str(error)
        assert any(name in message for name in names), (
            f'{type(error).__name__} does not name {names}: {message}')
        return None


# --- generic strategies ---------------------------------------------------------------------

odd_floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                       st.sampled_from([0.0, -0.0, 1e308, -1e308, 3.5e38, 1e-320]))
odd_ints = st.one_of(st.integers(-5, 50),
                     st.sampled_from([2**31, -2**31, 2**63, -2**63 - 1, 10**20, 10**400]))
small_text = st.text(max_size=6)
numpy_scalars = st.one_of(odd_ints.filter(lambda v: -2**63 <= v < 2**63).map(np.int64),
                          odd_floats.map(np.float64), st.just(np.str_('v1')))
odd_arrays = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.int64, np.uint8, np.bool_]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6))
#: Anything a pickle of plain data may hold in place of the expected value.
junk = st.recursive(
    st.one_of(st.none(), st.booleans(), odd_ints, odd_floats, small_text, st.binary(max_size=4),
              numpy_scalars, odd_arrays),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                            st.dictionaries(st.one_of(small_text, odd_ints), inner, max_size=3)),
    max_leaves=6)


def tube_arrays(max_rows: int = 6) -> st.SearchStrategy:
    """(N, 5) tubes: mostly plausible rows, with NaN, huge and negative values."""
    plausible = st.builds(
        lambda start, n, box: np.array([[start + i, *box] for i in range(n)], np.float32),
        st.integers(-2, 40), st.integers(0, max_rows),
        st.lists(st.floats(-10, 400, width=32), min_size=4, max_size=4))
    wild = hnp.arrays(np.float64, st.tuples(st.integers(0, max_rows), st.just(5)),
                      elements=odd_floats)
    return st.one_of(plausible, plausible, wild, odd_arrays,
                     st.lists(st.lists(odd_floats, max_size=6), max_size=3))


#: One byte-level edit: (kind, position, argument); positions wrap around the data's length.
edit = st.one_of(
    st.tuples(st.just('flip'), st.integers(0, 1 << 24), st.integers(0, 7)),
    st.tuples(st.just('set'), st.integers(0, 1 << 24), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just('delete'), st.integers(0, 1 << 24), st.integers(1, 16)),
    st.tuples(st.just('insert'), st.integers(0, 1 << 24), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just('duplicate'), st.integers(0, 1 << 24), st.integers(1, 64)),
    st.tuples(st.just('truncate'), st.integers(0, 1 << 24), st.just(0)))
edits = st.lists(edit, min_size=1, max_size=4)


def apply_edits(original: bytes, changes: list, limit: int = None) -> bytes:
    """``original`` with bit flips, overwritten, deleted, inserted or duplicated bytes, or a
    truncation; edits fall in the first ``limit`` bytes when given."""
    data = bytearray(original)
    for kind, at, argument in changes:
        at %= min(len(data), limit or len(data)) + 1
        if kind == 'flip' and at < len(data):
            data[at] ^= 1 << argument
        elif kind == 'set':
            data[at:at + len(argument)] = argument
        elif kind == 'delete':
            del data[at:at + argument]
        elif kind == 'insert':
            data[at:at] = argument
        elif kind == 'duplicate':
            data[at:at] = data[at:at + argument]
        elif kind == 'truncate':
            del data[at:]
    return bytes(data)


# --- the ACT pickle (load_act) --------------------------------------------------------------

def maybe(value_strategy: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly the expected value, sometimes junk in its place."""
    return st.one_of(value_strategy, value_strategy, value_strategy, junk)


video_names = st.one_of(st.sampled_from(['v1', 'walk/v_2', 'ü']), small_text,
                        st.just(np.str_('v3')))
label_keys = st.one_of(st.integers(0, 4), st.integers(0, 4).map(np.int64), odd_ints,
                       small_text, odd_floats, st.booleans())


@st.composite
def act_dicts(draw, with_splits: bool = True) -> dict:
    """ACT-shaped dicts with wrong types, missing keys, odd shapes and numbers."""
    videos = draw(st.lists(video_names, max_size=3, unique_by=str))
    labels = draw(maybe(st.lists(small_text, max_size=5)))
    tubes_of = st.dictionaries(label_keys, maybe(st.lists(tube_arrays(), max_size=3)),
                               max_size=3)
    data = dict(
        labels=labels,
        gttubes=draw(maybe(st.fixed_dictionaries({v: maybe(tubes_of) for v in videos}))),
        nframes=draw(maybe(st.fixed_dictionaries(
            {v: st.one_of(odd_ints, odd_floats, junk) for v in videos}))),
        resolution=draw(maybe(st.fixed_dictionaries(
            {v: maybe(st.tuples(odd_ints, odd_ints)) for v in videos}))))
    if with_splits:
        split = st.lists(st.one_of(st.sampled_from(videos or ['x']), junk), max_size=4)
        for key in ('train_videos', 'test_videos'):
            data[key] = draw(maybe(st.lists(maybe(split), max_size=3)))
    for key in list(data):
        if draw(st.integers(0, 9)) == 0:
            del data[key]
    return data


def assert_act(act: dict) -> None:
    """A normalised ACT dict (the documented result of the loaders and converters)."""
    assert all(isinstance(name, str) for name in act['labels'])
    for video, tubes in act['gttubes'].items():
        assert isinstance(video, str)
        for label, label_tubes in tubes.items():
            assert type(label) is int
            for tube in label_tubes:
                assert tube.dtype == np.float32 and tube.ndim == 2 and tube.shape[1] == 5
    assert all(isinstance(v, str) and type(n) is int for v, n in act['nframes'].items())
    for video, shape in act['resolution'].items():
        assert isinstance(video, str) and len(shape) == 2
        assert all(type(side) is int for side in shape)
    for key in ('train_videos', 'test_videos'):
        for split in act.get(key, []):
            assert all(isinstance(video, str) for video in split)


def check_load_act(path: str) -> None:
    TRIED['load_act'] += 1
    act = load_or_refuse(lambda: load_act(path), path)
    if act is not None:
        assert_act(act)


@budget(120)
@example(data=dict(labels=[], gttubes={}, nframes={'v': float('inf')}, resolution={},
                   train_videos=[], test_videos=[]), protocol=4)
@example(data=dict(labels=['a'], gttubes={'v': {0: [[[10**400, 0, 0, 1, 1]]]}}, nframes={},
                   resolution={}, train_videos=[], test_videos=[]), protocol=2)
@given(data=act_dicts(), protocol=st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_load_act_generated(scratch, data, protocol):
    check_load_act(write(scratch, '.pkl', pickle.dumps(data, protocol=protocol)))


@budget(150, long=7_000)
@example(changes=[('set', 3, b'\xff\xff\xff\xff\xff\xff\xff\x7f')])  # FRAME of 2**63 bytes
@example(changes=[('set', 3, b'\x00\x00\x00\x00\x00\x10')])  # FRAME of 16 TB
@example(changes=[('duplicate', 5587874, 51)])  # numpy: SystemError from a dtype's state
@example(changes=[('truncate', 14526627, 0), ('truncate', 11310550, 0), ('flip', 14686408, 1),
                  ('duplicate', 4450333, 37)])  # numpy: RuntimeError from a scalar's state
@given(changes=edits)
def test_load_act_mutated_real_sample(scratch, shared_data, changes):
    with open(osp.join(shared_data, 'act', 'ucf24_v2_gt_sample.pkl'), 'rb') as f:
        original = f.read()
    check_load_act(write(scratch, '.pkl', apply_edits(original, changes)))


@budget(10, long=3_000)
@given(changes=edits)
def test_load_act_mutated_jhmdb(scratch, shared_data, changes):
    # The 2.2 MB protocol-0 file, edited in its first 4 kB (labels, the first videos), where
    # a change alters structure rather than one coordinate.
    with open(osp.join(shared_data, 'act', 'JHMDB-GT.pkl'), 'rb') as f:
        original = f.read()
    check_load_act(write(scratch, '.pkl', apply_edits(original, changes, limit=4096)))


# --- MultiSports (multisports_to_act) -------------------------------------------------------

def check_multisports(data, source: str) -> None:
    TRIED['multisports_to_act'] += 1
    act = load_or_refuse(lambda: multisports_to_act(data, source), source)
    if act is not None:
        assert_act(act)


@budget(100, long=6_000)
@example(data=dict(labels=[], gttubes=None, nframes={}, resolution={}, test_videos=[]),
         drop_split=None)
@example(data=dict(labels=[], gttubes={'v1': {}}, nframes={'v1': 1}, resolution={'v1': []},
                   test_videos=[]), drop_split=None)
@example(data=dict(labels=['a'], gttubes={'v': {0: [np.array([[1, 0, 0, 1, 1],
                                                             [1e12, 0, 0, 1, 1]])]}},
                   nframes={'v': 5}, resolution={'v': (9, 9)}, test_videos=[['v']]),
         drop_split=None)  # a gap of a trillion frames was listed frame by frame
@given(data=act_dicts(), drop_split=st.sampled_from([None, 'train_videos', 'test_videos']))
def test_multisports_generated(data, drop_split):
    data.pop(drop_split, None)
    check_multisports(data, 'fuzzed multisports_GT.pkl')


@budget(120, long=4_000)
# names the codec 'latinq' for _codecs.encode: LookupError
@example(changes=[('delete', 2705760, 6), ('flip', 15379738, 6), ('flip', 332191, 5),
                  ('insert', 105043, b'\xe2Nb\x16\x81t\xb0c\xb0\x95x\x8e\x14\x00\xb6\xd5')])
@given(changes=edits)
def test_multisports_mutated_real(scratch, shared_data, changes):
    with open(osp.join(shared_data, 'multisports', 'gt.pkl'), 'rb') as f:
        original = f.read()
    path = write(scratch, '.pkl', apply_edits(original, changes))
    gt = load_or_refuse(lambda: safe_pickle_load(path), path)
    if isinstance(gt, dict):
        check_multisports(gt, path)
    else:
        TRIED['multisports_to_act'] += 1


# --- corrected UCF101-24 (load_corrected_annotations, corrected_to_act) ---------------------

@st.composite
def corrected_dicts(draw) -> dict:
    """Dicts shaped like pyannot_with_class_names.pkl, with junk in every place."""
    def annotation():
        return st.fixed_dictionaries(dict(
            sf=maybe(st.integers(-2, 10)), ef=maybe(st.integers(-2, 14)),
            label=maybe(st.integers(-1, 3)),
            boxes=maybe(hnp.arrays(st.sampled_from([np.uint8, np.uint16, np.float64]),
                                   st.tuples(st.integers(0, 12), st.integers(3, 5))))))
    videos = draw(st.lists(video_names, max_size=3, unique_by=str))
    db = {v: draw(maybe(st.fixed_dictionaries(dict(
        numf=maybe(st.one_of(st.integers(-1, 20), st.integers(0, 20).map(np.uint16))),
        label=maybe(st.integers(0, 3)),
        annotations=maybe(st.lists(maybe(annotation()), max_size=3)))))) for v in videos}
    data = dict(db=draw(maybe(st.just(db))),
                trainvideos=draw(maybe(st.lists(st.one_of(st.sampled_from(videos or ['x']),
                                                          junk), max_size=4))),
                classes=draw(maybe(st.lists(small_text, max_size=4))))
    for key in list(data):
        if draw(st.integers(0, 9)) == 0:
            del data[key]
    return data


def check_corrected(path: str, test_videos) -> None:
    TRIED['corrected_to_act'] += 1
    annots = load_or_refuse(lambda: load_corrected_annotations(path), path)
    if annots is None:
        return
    result = load_or_refuse(lambda: corrected_to_act(
        annots, test_videos, source=path), path)
    if result is not None:
        act, dropped = result
        assert_act(act)
        assert all(isinstance(video, str) for video in dropped)


@budget(120, long=5_000)
@example(data={'db': {'v1': {'numf': 3, 'label': 0}}, 'trainvideos': [], 'classes': []},
         test_videos=[], protocol=2)  # no 'annotations'
@example(data={'db': {'v1': {'numf': None, 'label': 0, 'annotations': []}},
               'trainvideos': None, 'classes': []}, test_videos=[], protocol=2)
@example(data={'db': {'v1': {'numf': 3, 'label': 0, 'annotations': [
    {'sf': 0, 'ef': None, 'label': 0, 'boxes': np.zeros((0, 4))}]}}, 'trainvideos': [],
    'classes': []}, test_videos=[], protocol=2)
@given(data=corrected_dicts(), test_videos=st.lists(video_names, max_size=3),
       protocol=st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_corrected_generated(scratch, data, test_videos, protocol):
    check_corrected(write(scratch, '.pkl', pickle.dumps(data, protocol=protocol)),
                    [str(v) for v in test_videos])


@functools.lru_cache(maxsize=None)
def corrected_sample(shared_data: str) -> bytes:
    """Five videos of the real corrected annotations, pickled as the original (protocol 2)."""
    annots = safe_pickle_load(osp.join(shared_data, 'ucf24_corrected',
                                       'pyannot_with_class_names.pkl'))
    videos = sorted(annots['db'])[:5]
    sample = dict(db={v: annots['db'][v] for v in videos}, trainvideos=videos[:3],
                  classes=annots['classes'])
    return pickle.dumps(sample, protocol=2)


@budget(120, long=5_000)
@example(changes=[('flip', 16201856, 5)])  # a '<U31' dtype's flags 8 -> 40: numpy segfaulted
@given(changes=edits)
def test_corrected_mutated_real(scratch, shared_data, changes):
    path = write(scratch, '.pkl', apply_edits(corrected_sample(shared_data), changes))
    check_corrected(path, [])


# --- the per-frame CSV (read_csv_rows, csv_to_act) ------------------------------------------

csv_cells = st.one_of(st.integers(-3, 30).map(str), st.floats(-5, 400).map(repr),
                      st.sampled_from(['', 'nan', 'inf', '-inf', '1e999', '9' * 40, 'x', ' 3',
                                       '0x1f', '1_0', '٣']),
                      small_text)


@st.composite
def csv_texts(draw) -> bytes:
    rows = []
    if draw(st.booleans()):
        rows.append(['video', 'frame', 'x1', 'y1', 'x2', 'y2', 'label', 'actor_id'])
    for _ in range(draw(st.integers(0, 8))):
        row = [draw(st.sampled_from(['v1', 'v2'])), draw(st.integers(-1, 12).map(str)),
               *(draw(st.floats(-5, 300).map(repr)) for _ in range(4)),
               draw(st.sampled_from(['walk', 'run'])), draw(st.sampled_from(['0', '1']))]
        for _ in range(draw(st.integers(0, 2))):  # a few cells replaced, added or removed
            where = draw(st.integers(0, len(row)))
            change = draw(st.sampled_from(['replace', 'insert', 'delete']))
            if change == 'replace' and where < len(row):
                row[where] = draw(csv_cells)
            elif change == 'insert':
                row.insert(where, draw(csv_cells))
            elif row:
                del row[min(where, len(row) - 1)]
        rows.append(row)
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    encoded = text.getvalue().encode('utf-8')
    return apply_edits(encoded, draw(edits)) if draw(st.integers(0, 2)) == 0 else encoded


def check_csv(path: str, resolution, labels) -> None:
    TRIED['csv'] += 1
    rows = load_or_refuse(lambda: read_csv_rows(path), path)
    if rows is None:
        return
    act = load_or_refuse(lambda: csv_to_act(rows, labels=labels, resolution=resolution,
                                            source=path), path)
    if act is not None:
        assert_act(act)


@budget(200, long=10_000)
@example(text=b'v1,99999999999999999999999999999999999999999,0,0,1,1,walk,0\n',
         resolution=(240, 320), labels=None)  # a frame float32 makes infinite
@example(text=b'v1,1,0,0,1,1,walk,0\n\xc1\n', resolution=(240, 320), labels=None)
@given(text=csv_texts(),
       resolution=st.one_of(st.none(), st.tuples(st.integers(-1, 500), st.integers(-1, 500))),
       labels=st.one_of(st.none(), st.just(['walk', 'run']), st.just(['walk'])))
def test_csv(scratch, text, resolution, labels):
    check_csv(write(scratch, '.csv', text), resolution, labels)


# --- CVAT for video 1.1 XML (read_cvat_video, cvat_to_act) ----------------------------------

cvat_numbers = st.one_of(st.integers(-3, 30).map(str), st.floats(-5, 400).map(repr),
                         st.sampled_from(['', 'nan', 'inf', '1e999', '9' * 30, 'x', '0x10']))


@st.composite
def cvat_documents(draw) -> bytes:
    """CVAT for video 1.1 exports with odd or missing elements and attributes."""
    def maybe_text(parent, tag, value):
        if draw(st.integers(0, 7)):
            ET.SubElement(parent, tag).text = value

    root = ET.Element(draw(st.sampled_from(['annotations'] * 9 + ['other'])))
    maybe_text(root, 'version', draw(st.sampled_from(['1.1'] * 9 + ['1.0', ''])))
    stop = draw(st.integers(0, 20))
    actions = ['walk', 'run']
    meta = ET.SubElement(root, 'meta')
    task = ET.SubElement(meta, draw(st.sampled_from(['task'] * 9 + ['job'])))
    maybe_text(task, 'size', draw(st.one_of(st.just(str(stop + 1)), cvat_numbers)))
    maybe_text(task, 'start_frame', draw(st.sampled_from(['0'] * 8 + ['2', 'x', ''])))
    maybe_text(task, 'stop_frame', draw(st.one_of(st.just(str(stop)), cvat_numbers)))
    maybe_text(task, 'frame_filter', draw(st.sampled_from([''] * 8 + ['step=2'])))
    maybe_text(task, 'source', draw(st.sampled_from(['clip.mp4', '', 'a/b.avi'])))
    maybe_text(task, 'name', draw(st.sampled_from(['task', ''])))
    size = ET.SubElement(task, 'original_size')
    maybe_text(size, 'width', draw(st.one_of(st.just('320'), cvat_numbers)))
    maybe_text(size, 'height', draw(st.one_of(st.just('240'), cvat_numbers)))
    labels = ET.SubElement(task, 'labels')
    for name in draw(st.lists(st.sampled_from(['person', 'walk', 'run', '']), max_size=3)):
        label = ET.SubElement(labels, 'label')
        maybe_text(label, 'name', name)
        attribute = ET.SubElement(ET.SubElement(label, 'attributes'), 'attribute')
        maybe_text(attribute, 'name', 'action')
        maybe_text(attribute, 'values', '\n'.join(actions))
    for track_id in range(draw(st.integers(0, 3))):
        track = ET.SubElement(root, 'track', id=draw(st.sampled_from([str(track_id), 'x'])),
                              label=draw(st.sampled_from(['person', 'walk', 'jump'])))
        for frame in draw(st.lists(st.integers(-1, stop + 2), max_size=6)):
            attributes = dict(frame=str(frame), outside=draw(st.sampled_from('0001')),
                              occluded='0', keyframe='1')
            for key, value in zip(('xtl', 'ytl', 'xbr', 'ybr'), (10, 20, 50, 80)):
                attributes[key] = draw(st.one_of(st.just(f'{value}.0'), cvat_numbers))
            for key in list(attributes):
                if draw(st.integers(0, 30)) == 0:
                    del attributes[key]
            box = ET.SubElement(track, draw(st.sampled_from(['box'] * 9 + ['polygon'])),
                                attributes)
            if draw(st.integers(0, 5)):
                ET.SubElement(box, 'attribute', name='action').text = draw(
                    st.sampled_from(actions + ['', 'fly']))
    if draw(st.integers(0, 30)) == 0:
        ET.SubElement(root, 'image')
    return ET.tostring(root, encoding='utf-8')


def check_cvat(path: str, label_attribute) -> None:
    TRIED['cvat'] += 1
    video = load_or_refuse(lambda: read_cvat_video(path, label_attribute), path)
    if video is None:
        return
    assert isinstance(video.nframes, int) and all(len(row) == 8 for row in video.rows)
    act = load_or_refuse(lambda: cvat_to_act([path], label_attribute=label_attribute),
                         path)
    if act is not None:
        assert_act(act)


@budget(120, long=6_000)
@example(document=b'<annotations><version>1.1</version><meta><task><start_frame>x'
         b'</start_frame></task></meta></annotations>', label_attribute=None)
@example(document=b'<annotations><version>1.1</version><meta><task><stop_frame>1e3'
         b'</stop_frame></task></meta></annotations>', label_attribute=None)
@example(document=b'<annotations><version>1.1</version><meta><task><size>3</size>'
         b'<original_size><width>32O</width><height>240</height></original_size></task>'
         b'</meta></annotations>', label_attribute=None)
@given(document=cvat_documents(), label_attribute=st.sampled_from([None, 'action']))
def test_cvat_generated(scratch, document, label_attribute):
    check_cvat(write(scratch, '.xml', document), label_attribute)


@budget(80, long=4_000)
@given(document=cvat_documents(), changes=edits,
       label_attribute=st.sampled_from([None, 'action']))
def test_cvat_mutated(scratch, document, changes, label_attribute):
    check_cvat(write(scratch, '.xml', apply_edits(document, changes)), label_attribute)


# --- detections and tubes (load_frame_detections, load_tubes) -------------------------------

def assert_detections(result) -> None:
    detections, videos = result
    assert detections.dtype == np.float64 and detections.ndim == 2
    assert detections.shape[1] == 8
    assert videos is None or all(isinstance(video, str) for video in videos)


def check_detections(path: str) -> None:
    TRIED['load_frame_detections'] += 1
    result = load_or_refuse(lambda: load_frame_detections(path), path)
    if result is not None:
        assert_detections(result)


detection_arrays = st.one_of(
    hnp.arrays(np.float64, st.tuples(st.integers(0, 5), st.just(8)), elements=odd_floats),
    odd_arrays, st.lists(st.lists(odd_floats, max_size=9), max_size=3), junk)


def npz_bytes(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def as_array(value) -> np.ndarray:
    """``value`` as numpy stores it in an .npz (an object array when it is ragged)."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        array = np.empty(1, dtype=object)
        array[0] = value
        return array


@budget(60, long=3_000)
@example(detections=None, videos=[], drop=None)  # an object array
@example(detections=np.zeros((1, 8)), videos=[], drop='videos')
@given(detections=detection_arrays, videos=st.one_of(st.lists(small_text, max_size=3), junk),
       drop=st.sampled_from([None, 'detections', 'videos']))
def test_detections_npz_generated(scratch, detections, videos, drop):
    arrays = dict(detections=as_array(detections), videos=as_array(videos))
    arrays.pop(drop, None)
    check_detections(write(scratch, '.npz', npz_bytes(arrays)))


@budget(60, long=3_000)
@example(changes=[('flip', 0, 0)])  # not a zip file: numpy's "contains pickled data"
@example(changes=[('flip', 456, 2), ('delete', 46639, 11),
                  ('set', 448, b's\x1f\xa2\x8f\xf9V\xc1\xd7'), ('delete', 20006, 13)])
@example(changes=[('delete', 151835, 10), ('set', 3702566, b'\xb7\x81\x0c\xa5\xeb\xe8')])
@example(changes=[('flip', 249893, 0)])  # the encryption flag: zipfile's RuntimeError
@given(changes=edits)
def test_detections_npz_mutated(scratch, changes):
    original = npz_bytes(dict(detections=np.arange(40, dtype=np.float64).reshape(5, 8),
                              videos=np.asarray(['v1', 'v2'])))
    check_detections(write(scratch, '.npz', apply_edits(original, changes)))


@budget(60, long=2_000)
@given(payload=st.one_of(st.fixed_dictionaries(dict(detections=detection_arrays,
                                                    videos=maybe(st.lists(small_text)))),
                         detection_arrays),
       protocol=st.integers(0, pickle.HIGHEST_PROTOCOL),
       changes=st.one_of(st.just([]), edits))
@example(payload={'detections': [[], [1.0, 2.0]], 'videos': ['v']}, protocol=2, changes=[])
@example(payload={'detections': np.zeros((1, 8)), 'videos': 3}, protocol=2, changes=[])
def test_detections_pkl(scratch, payload, protocol, changes):
    encoded = pickle.dumps(payload, protocol=protocol)
    check_detections(write(scratch, '.pkl', apply_edits(encoded, changes)))


@budget(60, long=2_000)
@example(text=b'video,frame,label,score,x1,y1,x2,y2\nv1,,0,0,0,0,0,0')
@example(text=b'video,frame,label,score,x1,y1,x2,y2\nv1,1,0,0,0,0,0,\xc1')
@given(text=st.builds(
    lambda header, rows: '\n'.join([header] + rows).encode('utf-8'),
    st.sampled_from(['video,frame,label,score,x1,y1,x2,y2'] * 5 + ['video,frame', '']),
    st.lists(st.lists(csv_cells, min_size=6, max_size=9).map(
        lambda cells: ','.join(['v1'] + cells)), max_size=5)))
def test_detections_csv(scratch, text):
    check_detections(write(scratch, '.csv', text))


@budget(60, long=1_000)
@given(changes=edits)
def test_detections_csv_mutated(scratch, changes):
    original = (b'video,frame,label,score,x1,y1,x2,y2\n'
                b'v1,1,0,0.5,1,2,3,4\nv2,3,1,0.25,5,6,7,8.5\n')
    check_detections(write(scratch, '.csv', apply_edits(original, changes)))


tube_entries = st.one_of(
    st.tuples(st.integers(0, 5), st.floats(0, 1), tube_arrays()),
    st.tuples(junk, junk, junk), st.lists(junk, max_size=4), junk)


def check_tubes(path: str) -> None:
    TRIED['load_tubes'] += 1
    tubes = load_or_refuse(lambda: load_tubes(path), path)
    if tubes is None:
        return
    for video, video_tubes in tubes.items():
        assert isinstance(video, str)
        for label, score, tube in video_tubes:
            assert type(label) is int and isinstance(score, float)
            assert tube.dtype == np.float64 and tube.ndim == 2 and tube.shape[1] == 5


@budget(150, long=7_000)
@example(data={'v': [(0, 0.5, [[1, 2, 3, 4, 5], [1, 2]])]}, protocol=4)
@given(data=st.one_of(st.dictionaries(video_names.map(str), st.lists(tube_entries, max_size=3),
                                      max_size=3), junk),
       protocol=st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_tubes_generated(scratch, data, protocol):
    check_tubes(write(scratch, '.pkl', pickle.dumps(data, protocol=protocol)))


@budget(80, long=3_000)
@given(changes=edits)
def test_tubes_mutated(scratch, changes):
    tubes = {'v1': [(0, 0.9, np.arange(10, dtype=np.float64).reshape(2, 5))],
             'v2': [(1, 0.5, np.ones((1, 5))), (2, 0.25, np.zeros((3, 5)))]}
    check_tubes(write(scratch, '.pkl', apply_edits(pickle.dumps(tubes, protocol=4), changes)))


# --- --cfg-options (check_cfg_options, load_config) -----------------------------------------

@functools.lru_cache(maxsize=None)
def tiny_cfg():
    from mmengine.config import Config
    from reliability_helpers import TINY_CONFIG
    return Config.fromfile(TINY_CONFIG)


@functools.lru_cache(maxsize=None)
def config_keys() -> tuple:
    """Every dotted key of the tiny config (list items by index), a few levels deep."""
    keys = []

    def walk(node, prefix, depth):
        items = (node.items() if isinstance(node, dict) else
                 enumerate(node) if isinstance(node, (list, tuple)) else ())
        for key, value in items:
            dotted = f'{prefix}.{key}' if prefix else str(key)
            keys.append(dotted)
            if depth < 4:
                walk(value, dotted, depth + 1)

    walk(tiny_cfg().to_dict(), '', 0)
    return tuple(keys)


@st.composite
def option_keys(draw) -> str:
    """An existing key, altered (a typo, an extra or missing part, an index out of range) or
    junk."""
    key = draw(st.sampled_from(config_keys()))
    change = draw(st.sampled_from(['keep', 'keep', 'append', 'typo', 'index', 'junk',
                                   'empty_part']))
    if change == 'append':
        key += '.' + draw(st.sampled_from(['type', 'x', '0', '99', 'indices', '']))
    elif change == 'typo' and key:
        at = draw(st.integers(0, len(key) - 1))
        key = key[:at] + draw(st.sampled_from(['', 'x', '.', '_'])) + key[at + 1:]
    elif change == 'index':
        key += '.' + str(draw(st.integers(-1, 12)))
    elif change == 'junk':
        key = draw(st.text(max_size=12))
    elif change == 'empty_part':
        key = key.replace('.', '..', 1) if '.' in key else '.' + key
    return key


option_values = st.one_of(
    junk, st.dictionaries(st.sampled_from(['type', 'x', '0', '_delete_']), junk, max_size=2),
    st.lists(st.dictionaries(st.sampled_from(['type', 'scale']), junk, max_size=2),
             max_size=2))


def check_options(options: dict) -> None:
    TRIED['cfg_options'] += 1
    cfg = tiny_cfg()

    def load():
        # load_config with the parsed config cached (Config.fromfile is the slow part)
        with mock.patch('point3d_mm.utils.config_checks.Config.fromfile',
                        return_value=copy.deepcopy(cfg)):
            return load_config(cfg.filename, options)

    merged = load_or_refuse(load, '--cfg-options')
    if merged is not None:
        assert isinstance(merged, Config)


@budget(150, long=10_000)
@example(options={'model.type': {}})  # a dict over a string: TypeError inside mmengine
@example(options={'train_dataloader.dataset.pipeline.3': None})  # AttributeError inside it
@given(options=st.deferred(lambda: st.dictionaries(option_keys(), option_values, min_size=1,
                                                   max_size=3)))
def test_cfg_options(options):
    check_options(options)


# --- video files and frame images (iter_numbered_frames, OpenCVVideoReader) -----------------

def encode_video(path: str, fourcc: str, frames: int = 10, size: int = 32) -> bytes:
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), 25.0, (size, size))
    assert writer.isOpened(), f'OpenCV cannot write {fourcc}'
    for number in range(frames):
        frame = np.full((size, size, 3), number * 20, np.uint8)
        cv2.circle(frame, (size // 2, size // 2), 4 + number % 8, (255, 128, 0), -1)
        writer.write(frame)
    writer.release()
    with open(path, 'rb') as f:
        return f.read()


@functools.lru_cache(maxsize=None)
def media(suffix: str) -> bytes:
    """A small generated mp4 (MPEG-4 part 2), avi (MJPEG) or jpg to mutate (not a fixture:
    hypothesis would print its bytes with every failing example)."""
    if suffix == '.jpg':
        ok, jpg = cv2.imencode('.jpg', np.random.default_rng(0).integers(
            0, 255, (24, 32, 3), dtype=np.uint8))
        assert ok
        return jpg.tobytes()
    with tempfile.TemporaryDirectory() as folder:
        return encode_video(osp.join(folder, 'a' + suffix),
                            {'.mp4': 'mp4v', '.avi': 'MJPG'}[suffix])


def check_frames(video: str, on_corrupt: str, names: tuple) -> None:
    TRIED['video_frames'] += 1
    def decode():
        return [(number, frame.shape) for number, frame in
                iter_numbered_frames(video, on_corrupt=on_corrupt)]

    frames = load_or_refuse(decode, *names)
    if frames is not None:
        numbers = [number for number, _ in frames]
        assert numbers == sorted(set(numbers)) and numbers and numbers[0] >= 1
        assert all(len(shape) == 3 and shape[2] == 3 for _, shape in frames)
        assert all(shape[0] * shape[1] <= MAX_FRAME_PIXELS for _, shape in frames)


@budget(120, long=6_000)
@given(changes=edits, suffix=st.sampled_from(['.mp4', '.avi']),
       on_corrupt=st.sampled_from(['raise', 'skip']))
def test_video_file_mutated(scratch, changes, suffix, on_corrupt):
    path = write(scratch, suffix, apply_edits(media(suffix), changes))
    check_frames(path, on_corrupt, (path,))


@budget(60, long=2_000)
@example(changes=[('flip', 0, 0)], frame_ids=[11])  # a frame count of -1: len() failed
@given(changes=edits, frame_ids=st.lists(st.integers(1, 14), min_size=1, max_size=4))
def test_video_reader_mutated(scratch, changes, frame_ids):
    TRIED['video_frames'] += 1
    path = write(scratch, '.avi', apply_edits(media('.avi'), changes))
    reader = OpenCVVideoReader(path)
    try:
        frames = load_or_refuse(lambda: reader.read(frame_ids), path)
    finally:
        reader.close()
    if frames is not None:
        assert len(frames) == len(frame_ids)
        assert all(frame.ndim == 3 and frame.shape[2] == 3 for frame in frames)


@budget(60, long=2_000)
@example(changes=[('set', 163, b'\x7f\xff\x7f\xff')], on_corrupt='raise')  # 32767 x 32767:
# OpenCV decoded it into 6 GB in 10 s
@given(changes=edits, on_corrupt=st.sampled_from(['raise', 'skip']))
def test_frame_folder_mutated_jpg(scratch, changes, on_corrupt):
    folder = osp.join(scratch, 'frames')
    os.makedirs(folder, exist_ok=True)
    for number in (1, 2):
        with open(osp.join(folder, f'{number:05d}.jpg'), 'wb') as f:
            f.write(apply_edits(media('.jpg'), changes) if number == 2 else media('.jpg'))
    check_frames(folder, on_corrupt, (folder,))
