"""Linker settings: stated once (TubeLinkerBase), checked all at once, refused in one line
through the registry path users take (``--linker`` of eval_detections.py and
compare_protocols.py), and a folder of peer detections without files refused by name."""
import inspect
import json

import numpy as np
import pytest
from tool_helpers import load_tool

from point3d_mm.evaluation import build_linker, linker_config, linker_from_options, linker_types
from point3d_mm.evaluation.functional import TubeLinker, TubeLinkerBase, ViterbiTubeLinker
from point3d_mm.structures.act_format import dump_act

SHARED = ['score_thr', 'frame_nms_thr', 'max_per_frame', 'iou_weight', 'link_iou_thr',
          'max_gap', 'trim_score', 'switch_penalty', 'min_length', 'tube_nms_thr', 'protocol']
# The published defaults (docs/config_reference.md), written out by hand.
DEFAULTS = dict(score_thr=0.01, frame_nms_thr=0.6, max_per_frame=10, iou_weight=1.0,
                link_iou_thr=0.2, max_gap=5, trim_score=0.05, switch_penalty=1.0, min_length=3,
                tube_nms_thr=0.3, protocol='act')


def _signature_names(cls):
    names = []
    for klass in reversed(cls.__mro__):
        if '__init__' in vars(klass) and issubclass(klass, TubeLinkerBase):
            names += [p for p, v in inspect.signature(klass.__init__).parameters.items()
                      if v.kind is inspect.Parameter.KEYWORD_ONLY]
    return names


@pytest.mark.parametrize('cls,own', [(TubeLinker, {'motion_window': 10}),
                                     (ViterbiTubeLinker, {'score_product_weight': 0.0})])
def test_defaults_are_stated_once_and_every_setting_has_a_rule(cls, own):
    # The shared defaults stand in the base's signature only; each linker adds its own.
    assert list(inspect.signature(cls.__init__).parameters) == ['self', *own, 'settings']
    assert _signature_names(cls) == SHARED + list(own)
    assert list(cls.SETTINGS) == SHARED + list(own)
    linker = cls()
    assert {name: getattr(linker, name) for name in cls.SETTINGS} == dict(DEFAULTS, **own)
    with pytest.raises(TypeError):
        cls(0.5)  # keywords only: no setting lands in the wrong place by position


def test_registered_linkers_are_listed():
    assert linker_types() == {'TubeLinker': TubeLinker, 'ViterbiTubeLinker': ViterbiTubeLinker}


# (settings, the wrong ones as the message names them)
WRONG = [
    (dict(link_iou_thr=2), ['link_iou_thr=2 (need a number in [0, 1])']),
    (dict(link_iou_thr=-0.1, frame_nms_thr=1.5, tube_nms_thr=2.0),
     ['frame_nms_thr=1.5 (need a number in [0, 1])', 'link_iou_thr=-0.1 (need a number in '
      '[0, 1])', 'tube_nms_thr=2.0 (need None or a number in [0, 1])']),
    (dict(score_thr=-5, iou_weight=float('nan'), trim_score=float('inf')),
     ['score_thr=-5 (need a number >= 0)', 'iou_weight=nan (need a number >= 0)',
      'trim_score=inf (need a number >= 0)']),
    (dict(max_gap=2.0, min_length=True, max_per_frame='3'),
     ["max_per_frame='3' (need an integer in [1, 1000000])",
      'max_gap=2.0 (need an integer in [0, 1000000])',
      'min_length=True (need an integer in [1, 1000000])']),
    (dict(max_gap=10 ** 6 + 1, own=True),
     ['max_gap=1000001 (need an integer in [0, 1000000])']),
    (dict(switch_penalty=None, protocol='coco'),
     ['switch_penalty=None (need a number >= 0)', "protocol='coco' (need one of 'act', 'voc')"]),
]


@pytest.mark.parametrize('cls', [TubeLinker, ViterbiTubeLinker])
@pytest.mark.parametrize('settings,named', WRONG)
def test_every_wrong_setting_in_one_message(cls, settings, named):
    if 'own' in settings:  # the linker's own setting, wrong too
        own, value, need = (('motion_window', 1001, 'an integer in [1, 1000]')
                            if cls is TubeLinker else
                            ('score_product_weight', -1.0, 'a number >= 0'))
        settings = dict(settings, **{own: value})
        del settings['own']
        named = named + [f'{own}={value} (need {need})']
    for build in (lambda: cls(**settings), lambda: build_linker(dict(type=cls.__name__,
                                                                     **settings))):
        with pytest.raises(ValueError) as info:
            build()
        message = str(info.value)
        assert message.startswith(f'{cls.__name__}: wrong setting(s) ') and '\n' not in message
        wrong = message[len(f'{cls.__name__}: wrong setting(s) '):]
        # In the order of SETTINGS, each once.
        assert wrong == ', '.join(sorted(named, key=lambda n: list(cls.SETTINGS).index(
            n.split('=')[0])))


def test_each_linker_checks_its_own_setting_with_the_shared_ones():
    with pytest.raises(ValueError, match=r'^TubeLinker: wrong setting\(s\) score_thr=-5 \(need '
                       r'a number >= 0\), link_iou_thr=2 \(need a number in \[0, 1\]\), '
                       r'motion_window=0 \(need an integer in \[1, 1000\]\)$'):
        TubeLinker(link_iou_thr=2, score_thr=-5, motion_window=0)
    with pytest.raises(ValueError, match=r'^ViterbiTubeLinker: wrong setting\(s\) '
                       r'score_product_weight=-1 \(need a number >= 0\)$'):
        ViterbiTubeLinker(score_product_weight=-1)
    # The bounds are allowed; numpy numbers are numbers.
    TubeLinker(link_iou_thr=1, frame_nms_thr=0, tube_nms_thr=None, score_thr=np.float32(0),
               max_gap=np.int64(0), min_length=1, motion_window=1, trim_score=0)


def test_unknown_type_and_names_get_one_line_listing_the_valid_ones():
    with pytest.raises(ValueError, match=r"^unknown linker type 'Nope'; registered linkers: "
                       r'TubeLinker, ViterbiTubeLinker$'):
        build_linker(dict(type='Nope'))
    with pytest.raises(ValueError, match='unknown linker type None'):
        build_linker(dict(max_gap=3))
    with pytest.raises(ValueError, match=r"^TubeLinker: unknown setting\(s\) 'max_gapp', "
                       r"'score_product_weight' \(valid: score_thr, frame_nms_thr, "
                       r'.*protocol, motion_window\)$'):
        build_linker(dict(type='TubeLinker', max_gapp=3, score_product_weight=1))
    # Unknown and wrong together: still one message.
    with pytest.raises(ValueError, match=r"unknown setting\(s\) 'x' .*; wrong setting\(s\) "
                       r'max_gap=-1'):
        build_linker(dict(type='ViterbiTubeLinker', x=1, max_gap=-1))
    built = ViterbiTubeLinker(max_gap=2)
    assert build_linker(built) is built
    assert build_linker(dict(type=ViterbiTubeLinker, max_gap=2)).max_gap == 2


def test_linker_config_and_tool_options(tmp_path):
    cfg = dict(test_evaluator=[dict(type='FrameMAP'), dict(
        type='VideoMAP', linker=dict(type='ViterbiTubeLinker', max_gap=2))])
    assert linker_config(cfg) == dict(type='ViterbiTubeLinker', max_gap=2)
    assert linker_config(dict(val_evaluator=dict(type='VideoMAP'))) == dict(type='TubeLinker')
    assert linker_config({}) == dict(type='TubeLinker')
    config_file = tmp_path / 'cfg.py'
    config_file.write_text(f'test_evaluator = {cfg["test_evaluator"]!r}\n')
    config, linker = linker_from_options(str(config_file), '{"min_length": 4}')
    assert config == dict(type='ViterbiTubeLinker', max_gap=2, min_length=4)
    assert type(linker) is ViterbiTubeLinker and (linker.max_gap, linker.min_length) == (2, 4)
    with pytest.raises(ValueError, match=r"^--linker '\{bad' is not JSON: "):
        linker_from_options(None, '{bad')
    with pytest.raises(ValueError, match=r"^--linker '\[1\]' is not a JSON object"):
        linker_from_options(None, '[1]')


@pytest.fixture(scope='module')
def scored_files(tmp_path_factory):
    from test_peer_formats import tiny_case, written
    folder = tmp_path_factory.mktemp('linker_cli')
    gt, dets = tiny_case()
    ann = str(folder / 'gt.pkl')
    dump_act(gt, ann)
    (folder / 'empty').mkdir()
    return ann, written('point3d', folder, gt, dets, ['a', 'b']), str(folder / 'empty')


def _exit_line(tool, argv):
    with pytest.raises(SystemExit) as info:
        load_tool(f'analysis/{tool}').main(argv)
    message = str(info.value.code)
    assert '\n' not in message and message.startswith(f'{tool}: ValueError: ')
    return message[len(f'{tool}: ValueError: '):]


BAD_LINKERS = [
    ({'type': 'Nope'}, "unknown linker type 'Nope'; registered linkers: TubeLinker, "
     'ViterbiTubeLinker'),
    ({'max_gapp': 3}, "TubeLinker: unknown setting(s) 'max_gapp' (valid: score_thr, "
     'frame_nms_thr, max_per_frame, iou_weight, link_iou_thr, max_gap, trim_score, '
     'switch_penalty, min_length, tube_nms_thr, protocol, motion_window)'),
    ({'type': 'ViterbiTubeLinker', 'link_iou_thr': 2},
     'ViterbiTubeLinker: wrong setting(s) link_iou_thr=2 (need a number in [0, 1])'),
    ({'link_iou_thr': 2, 'score_thr': -5, 'motion_window': 0},
     'TubeLinker: wrong setting(s) score_thr=-5 (need a number >= 0), link_iou_thr=2 (need '
     'a number in [0, 1]), motion_window=0 (need an integer in [1, 1000])'),
]


@pytest.mark.parametrize('tool', ['eval_detections.py', 'compare_protocols.py'])
@pytest.mark.parametrize('linker,message', BAD_LINKERS)
def test_tools_refuse_a_bad_linker_in_one_line(tool, linker, message, scored_files, capsys):
    ann, dets, _ = scored_files
    assert _exit_line(tool, [ann, dets, '--linker', json.dumps(linker)]) == message
    assert 'mAP' not in capsys.readouterr().out  # refused before anything is scored


@pytest.mark.parametrize('tool', ['eval_detections.py', 'compare_protocols.py'])
def test_tools_refuse_an_empty_folder_naming_it(tool, scored_files):
    ann, _, empty = scored_files
    assert _exit_line(tool, [ann, empty]) == (
        f"{empty}: holds no detection files: no YOWO per-frame <video>_<frame:05d>.txt "
        "files, nor MOC's frame_detections.pkl")


@pytest.mark.parametrize('tool,options,message', [
    ('compare_protocols.py', ['--iou-thr', '2'],
     'iou_thr must be IoU thresholds in [0, 1]; got [2.0]'),
    ('eval_detections.py', ['--iou-thr', 'nan'],
     'iou_thr must be IoU thresholds in [0, 1]; got [nan]'),
    ('eval_detections.py', ['--video-iou-thrs', '0.5', '7'],
     'iou_thrs must be IoU thresholds in [0, 1]; got [0.5, 7.0]'),
    ('compare_protocols.py', ['--fps', '0', '--format', 'ava_csv'],
     'fps must be a positive number of frames per timestamp unit; got 0.0'),
])
def test_tools_refuse_other_bad_options_in_one_line(tool, options, message, scored_files):
    ann, dets, _ = scored_files
    assert _exit_line(tool, [ann, dets, *options]) == message


@pytest.mark.parametrize('tool', ['eval_detections.py', 'compare_protocols.py'])
def test_tools_refuse_a_folder_as_ground_truth_naming_it(tool, scored_files):
    ann, dets, empty = scored_files
    with pytest.raises(SystemExit) as info:
        load_tool(f'analysis/{tool}').main([empty, dets])
    message = str(info.value.code)
    assert '\n' not in message and message.startswith(f'{tool}: ') and empty in message
