"""tools/analysis/price_head_interval.py: trained checkpoints re-tested with several head
intervals, the table of mean ± sd over the runs, the rule that picks the default k, and the
runs it reads (ablation and demo work dirs, a config and a checkpoint)."""
import json
import math
import os
import os.path as osp
import statistics

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner.checkpoint import save_checkpoint
from tool_helpers import load_tool

from point3d_mm.analysis import ablation
from point3d_mm.analysis import head_interval_price as price
from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions
from point3d_mm.utils.safe_pickle import safe_pickle_load

tool = load_tool('analysis/price_head_interval.py')
test_tool = load_tool('test.py')
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CONFIG = osp.join(REPO, 'configs', 'point3d_tiny_synthetic.py')
METRIC_KEYS = [key for _, key in price.METRICS]


def tiny_row_config(data_root: str) -> str:
    """The tiny model on ``data_root`` with an ablation row's layout: validation loop on the
    validation videos, test loop on the test videos, 2 training iterations."""
    val_gt, test_gt = (osp.join(data_root, f) for f in ('synthetic_val_gt.pkl',
                                                        'synthetic_gt.pkl'))
    metrics = [dict(type='FrameMAP', split=1, iou_thr=0.5),
               dict(type='VideoMAP', split=1, iou_thrs=(0.2, 0.5))]
    loader = dict(batch_size=4, num_workers=0, persistent_workers=False)
    return f"""_base_ = [{TINY_CONFIG!r}]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=2, val_interval=3)
val_dataloader = dict(**{loader!r}, dataset=dict(data_root={data_root!r},
                      ann_file='synthetic_val_gt.pkl'))
test_dataloader = dict(**{loader!r}, dataset=dict(data_root={data_root!r},
                       ann_file='synthetic_gt.pkl'))
val_evaluator = [dict(m, ann_file={val_gt!r}) for m in {metrics!r}]
test_evaluator = [dict(m, ann_file={test_gt!r}) for m in {metrics!r}]
default_hooks = dict(logger=dict(interval=1000))
"""


def actor_sized_checkpoint(cfg: Config, data_root: str, seed: int, path: str) -> str:
    """Random weights whose Point Head boxes have the ground truth's median size, so that the
    metrics are not all 0 (the centres and the classes stay random), written by mmengine's
    save_checkpoint: the project's checkpoint writer (sidecar and digest)."""
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')  # a module fixture runs before the autouse scope fixture
    gt = safe_pickle_load(osp.join(data_root, 'synthetic_gt.pkl'))
    boxes = np.concatenate([tube for video in gt['gttubes'].values()
                            for tubes in video.values() for tube in tubes])
    size = np.median(boxes[:, 3:5] - boxes[:, 1:3], axis=0)
    # frames of 64 px resized to the input's 128, features at stride 4: 0.5 feature px each
    size_on_features = torch.tensor(size * 128 / 64 / 4, dtype=torch.float32)
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    head = model.point_head
    with torch.no_grad():
        head.wh_head[2].weight.zero_()
        head.wh_head[2].bias.copy_(size_on_features)
        head.offset_head[2].weight.zero_()
        head.offset_head[2].bias.zero_()
        head.knot_heatmap_head[2].bias.fill_(-10.0)  # no knot peaks: the boxes stay as sized
    save_checkpoint(dict(meta=dict(seed=seed), state_dict=model.state_dict()), path)
    return path


@pytest.fixture(scope='module')
def grid(tmp_path_factory) -> dict:
    """Two runs in an ablation grid's layout as run_ablation.py leaves it
    (``tiny/seed<k>/``: ``tiny_val.py``, whose test loop is the validation videos';
    ``tiny_test.py`` without a validation loop, as mmengine re-dumps it after training with
    ``--no-validate``; ``iter_2.pth``) on one validation and one test video."""
    root = tmp_path_factory.mktemp('price')
    data = str(root / 'data')
    SyntheticActions(seed=0, num_train=1, num_test=1, num_val=1, size=64, min_frames=12,
                     max_frames=14).generate(data)
    text = tiny_row_config(data)
    work_dirs = []
    for seed in (0, 2):  # seeds whose random centres find some actors on these videos
        work_dir = root / 'ablation' / 'tiny' / f'seed{seed}'
        work_dir.mkdir(parents=True)
        (work_dir / 'tiny_row.py').write_text(text)
        cfg = Config.fromfile(str(work_dir / 'tiny_row.py'))
        os.remove(work_dir / 'tiny_row.py')
        ablation.split_config(cfg, 'val').dump(str(work_dir / 'tiny_val.py'))
        (work_dir / 'tiny_test.py').write_text(
            text + 'val_cfg = None\nval_dataloader = None\nval_evaluator = None\n')
        actor_sized_checkpoint(cfg, data, seed, str(work_dir / 'iter_2.pth'))
        work_dirs.append(str(work_dir))
    return dict(root=root, data=data, work_dirs=work_dirs)


def metrics_of_test_py(config: str, checkpoint: str, interval: int, work_dir: str) -> dict:
    """tools/test.py's metrics of ``checkpoint`` with ``head_interval`` = ``interval``."""
    metrics_file = osp.join(work_dir, 'metrics.json')
    test_tool.main([config, checkpoint, '--work-dir', work_dir, '--out-metrics', metrics_file,
                    '--cfg-options', f'model.test_cfg.head_interval={interval}'])
    with open(metrics_file) as f:
        return {key.split('/')[-1]: value for key, value in json.load(f).items()}


def test_price_table_from_two_runs(grid, monkeypatch, capsys):
    """k = 1 and 2 on the test videos: each test's metrics are tools/test.py's with the same
    k; mean, sd, Δ, the table and the choice follow from them; a second call reuses every
    test."""
    out = str(grid['root'] / 'out')
    report = tool.main([*grid['work_dirs'], '--intervals', '2', '--split', 'test', '--out-dir',
                        out])
    assert report['intervals'] == [1, 2] and report['splits'] == ['test']
    assert [r['name'] for r in report['runs']] == ['tiny/seed0', 'tiny/seed2']
    assert report['command'].startswith('python tools/analysis/price_head_interval.py ')
    written = json.load(open(osp.join(out, 'head_interval_price.json')))
    summary = written['per_split']['test']['summary']
    frame = {k: summary[str(k)]['frame_mAP@0.5']['values'] for k in (1, 2)}
    # the test means something only if the runs find actors and k changes the scores
    assert min(frame[1]) > 0 and frame[1] != frame[2]

    # run 0 with k = 2 gives tools/test.py's numbers with head_interval=2
    expected = metrics_of_test_py(osp.join(grid['work_dirs'][0], 'tiny_test.py'),
                               osp.join(grid['work_dirs'][0], 'iter_2.pth'), 2,
                               str(grid['root'] / 'test_py'))
    assert {key: summary['2'][key]['values'][0] for key in METRIC_KEYS} == {
        key: pytest.approx(expected[key], abs=1e-12) for key in METRIC_KEYS}

    for key in METRIC_KEYS:
        values = {k: summary[str(k)][key]['values'] for k in (1, 2)}
        for k in (1, 2):
            assert summary[str(k)][key]['mean'] == pytest.approx(statistics.mean(values[k]))
            assert summary[str(k)][key]['sd'] == pytest.approx(statistics.stdev(values[k]))
        sd = statistics.stdev(values[1])
        expected_delta = (None if sd == 0 else
                          (statistics.mean(values[2]) - statistics.mean(values[1])) / sd)
        assert summary['2'][key]['delta_sd'] == (
            None if expected_delta is None else pytest.approx(expected_delta))
    # k = 2 is chosen exactly when neither choice metric drops by more than one sd
    within = all(statistics.mean(summary['1'][key]['values'])
                 - statistics.mean(summary['2'][key]['values'])
                 <= statistics.stdev(summary['1'][key]['values'])
                 for key in price.CHOICE_METRICS)
    assert written['chosen'] == (2 if within else 1) and written['chosen_on'] == 'test'

    markdown = open(osp.join(out, 'head_interval_price.md')).read()
    mean, sd = statistics.mean(frame[2]), statistics.stdev(frame[2])
    row = [line for line in markdown.splitlines() if line.startswith('| 2 | ')]
    assert len(row) == 1 and row[0].startswith(f'| 2 | {100 * mean:.1f} ± {100 * sd:.1f} | ')
    assert row[0].endswith(' | yes |' if within else ' | no |')
    assert f"**Chosen default: k = {written['chosen']}** (the rule on the test videos" in markdown
    assert ('| tiny/seed2 | test | '
            + ' | '.join(f'{100 * frame[k][1]:.2f}' for k in (1, 2)) + ' |') in markdown

    # a second call tests nothing again and writes the same report
    def no_test(*args, **kwargs):
        raise AssertionError('a kept test was run again')
    monkeypatch.setattr(price, 'checkpoint_metrics', no_test)
    capsys.readouterr()
    again = tool.main([*grid['work_dirs'], '--intervals', '2', '--split', 'test', '--out-dir',
                       out])
    assert again['per_split'] == report['per_split']
    assert capsys.readouterr().out.count(': reusing ') == 4


@pytest.mark.slow
def test_validation_split_is_the_config_val_loop(grid):
    """--split both: the validation numbers are tools/test.py's on <row>_val.py (whose test
    loop is the validation loop), although <row>_test.py has no validation loop, and they
    choose."""
    out = str(grid['root'] / 'out_both')
    report = tool.main([grid['work_dirs'][0], grid['work_dirs'][1], '--intervals', '2',
                        '--out-dir', out])
    assert report['splits'] == ['val', 'test'] and report['chosen_on'] == 'val'
    val_config = osp.join(grid['work_dirs'][0], 'tiny_val.py')
    expected = metrics_of_test_py(val_config, osp.join(grid['work_dirs'][0], 'iter_2.pth'), 1,
                               str(grid['root'] / 'test_py_val'))
    summary = report['per_split']['val']['summary']
    assert {key: summary[1][key]['values'][0] for key in METRIC_KEYS} == {
        key: pytest.approx(expected[key], abs=1e-12) for key in METRIC_KEYS}
    assert report['chosen'] == report['per_split']['val']['chosen']


def test_report_chooses_on_validation_videos():
    """Made-up results: the validation videos pick k = 4 although the test videos would pick
    8; the table shows mean ± sd, Δ in sd units and which k are within."""
    def metrics(frame, video):
        return {'frame_mAP@0.5': frame, 'video_mAP@0.2': video, 'video_mAP@0.5': video}
    val = {'a': {1: metrics(0.70, 0.50), 4: metrics(0.69, 0.49), 8: metrics(0.60, 0.40)},
           'b': {1: metrics(0.74, 0.54), 4: metrics(0.71, 0.51), 8: metrics(0.62, 0.42)}}
    test = {run: {k: metrics(0.5, 0.5) for k in (1, 4, 8)} for run in ('a', 'b')}
    test['b'][1] = metrics(0.6, 0.6)
    results = {run: {'val': val[run], 'test': test[run]} for run in ('a', 'b')}
    runs = [price.PricedRun(name, None, f'{name}.pth', name) for name in ('a', 'b')]
    provenance = dict(command='python tools/analysis/price_head_interval.py a b',
                      date='2026-12-07', machine=dict(cpu='CPU X', threads=1), commit='abc')
    report, markdown = price.build_report(results, [1, 4, 8], runs, provenance)
    # val: k = 1 mean 72.0 ± 2.83 (sd 0.04 / sqrt 2); k = 4 costs 2.0 (frame) and 2.0
    # (video) < 2.83; k = 8 costs 11.0
    assert report['per_split']['val']['chosen'] == 4
    assert report['per_split']['test']['chosen'] == 8  # test: 55 ± 7.07, k = 8 costs 5
    assert report['chosen'] == 4 and report['chosen_on'] == 'val'
    lines = markdown.splitlines()
    assert '| 1 | 72.0 ± 2.8 | +0.00 | 52.0 ± 2.8 | +0.00 | 52.0 ± 2.8 | +0.00 | yes |' in lines
    # Δ for k = 4: (0.70 - 0.72) / (0.02 sqrt 2) = -0.71
    assert '| 4 | 70.0 ± 1.4 | -0.71 | 50.0 ± 1.4 | -0.71 | 50.0 ± 1.4 | -0.71 | yes |' in lines
    assert '| 8 | 61.0 ± 1.4 | -3.89 | 41.0 ± 1.4 | -3.89 | 41.0 ± 1.4 | -3.89 | no |' in lines
    assert '**Chosen default: k = 4** (the rule on the validation videos' in markdown
    assert ('Command: `python tools/analysis/price_head_interval.py a b`; 2026-12-07, CPU X, '
            '1 thread, commit abc.') in lines
    assert '| b | val | 74.00 | 71.00 | 62.00 |' in lines
    one_run = {'a': results['a']}
    report, markdown = price.build_report(one_run, [1, 4, 8], runs[:1], provenance)
    assert report['chosen'] is None and '**No default chosen**: no seed-sd of k = 1' in markdown


def test_choice_rule_by_hand():
    """Largest k whose frame-mAP@0.5 and video-mAP@0.5 are at most one sd of k = 1 below it."""
    sd = {'frame_mAP@0.5': 0.02, 'video_mAP@0.5': 0.05}
    means = {1: {'frame_mAP@0.5': 0.70, 'video_mAP@0.5': 0.50},
             2: {'frame_mAP@0.5': 0.69, 'video_mAP@0.5': 0.46},   # costs 0.01, 0.04: within
             4: {'frame_mAP@0.5': 0.685, 'video_mAP@0.5': 0.44},  # video costs 0.06 > 0.05
             8: {'frame_mAP@0.5': 0.60, 'video_mAP@0.5': 0.52}}   # frame costs 0.10 > 0.02
    chosen, why = price.choose_interval(means, sd)
    assert chosen == 2
    assert why.startswith('k = 2 is the largest k whose frame_mAP@0.5 and video_mAP@0.5')
    assert 'k = 4 costs more on video_mAP@0.5; k = 8 costs more on frame_mAP@0.5' in why
    assert price.costs_over_one_sd(means, sd) == {
        1: [], 2: [], 4: ['video_mAP@0.5'], 8: ['frame_mAP@0.5']}
    # the largest qualifying k, also past one that fails; doing better costs nothing
    means[8] = {'frame_mAP@0.5': 0.75, 'video_mAP@0.5': 0.451}  # video costs 0.049
    assert price.choose_interval(means, sd)[0] == 8
    # exactly one sd below still qualifies (0.5 - 0.25 = 0.25, exact in binary)
    assert price.choose_interval(
        {1: {'a': 0.5}, 2: {'a': 0.25}}, {'a': 0.25}, metrics=('a', ))[0] == 2
    # a spread of zero: only k that lose nothing
    assert price.choose_interval({1: {'a': 0.5}, 2: {'a': 0.4999}}, {'a': 0.0},
                                 metrics=('a', ))[0] == 1
    # one run: no sd, no choice
    chosen, why = price.choose_interval(means, {'frame_mAP@0.5': None, 'video_mAP@0.5': 0.1})
    assert chosen is None and 'no seed-sd of k = 1 for frame_mAP@0.5 (one run)' in why
    with pytest.raises(ValueError, match='compares with k = 1'):
        price.choose_interval({2: means[2]}, sd)


def test_summary_by_hand():
    runs = {'a': {1: dict.fromkeys(METRIC_KEYS, 0.80), 2: dict.fromkeys(METRIC_KEYS, 0.70)},
            'b': {1: dict.fromkeys(METRIC_KEYS, 0.84), 2: dict.fromkeys(METRIC_KEYS, 0.78)}}
    summary = price.summarize(runs, [1, 2])
    frame = summary[1]['frame_mAP@0.5']
    # mean 0.82, sd sqrt(2 * 0.02^2 / 1) = 0.02 * sqrt(2)
    assert frame['values'] == [0.80, 0.84] and frame['mean'] == pytest.approx(0.82)
    assert frame['sd'] == pytest.approx(0.02 * math.sqrt(2))
    # k = 2: mean 0.74, 0.08 below: -0.08 / (0.02 sqrt 2) = -2 sqrt 2
    assert summary[2]['frame_mAP@0.5']['delta_sd'] == pytest.approx(-2 * math.sqrt(2))
    assert summary[1]['frame_mAP@0.5']['delta_sd'] == 0
    one = price.summarize({'a': runs['a']}, [1, 2])
    assert one[1]['video_mAP@0.5']['sd'] is None and one[2]['video_mAP@0.5']['delta_sd'] is None


@pytest.mark.parametrize('value', ['0', '-1', '1.5', 'x', 'true'])
def test_bad_interval_is_refused(grid, value, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        tool.main([grid['work_dirs'][0], '--intervals', '2', value, '--out-dir',
                   str(tmp_path)])
    assert str(exit_info.value) == (f"price_head_interval.py: ValueError: head interval "
                                    f"{value!r}: not an int >= 1 (the 3D Head runs on one "
                                    'frame of every k)')
    assert price.parse_intervals(['8', 2, '4']) == [1, 2, 4, 8]


def test_bad_runs_are_refused(grid, tmp_path):
    def refusal(*argv) -> str:
        with pytest.raises(SystemExit) as exit_info:
            tool.main([*argv, '--out-dir', str(tmp_path / 'out')])
        return str(exit_info.value)

    config = osp.join(grid['work_dirs'][0], 'tiny_test.py')
    missing = str(tmp_path / 'gone.pth')
    assert refusal('--run', config, missing) == (
        f'price_head_interval.py: FileNotFoundError: {missing}: no such checkpoint file')
    checkpoint = osp.join(grid['work_dirs'][0], 'iter_2.pth')
    assert refusal('--run', config, checkpoint) == (  # no validation loop in it
        f'price_head_interval.py: ValueError: {config}: its config has no validation loop to '
        'test the validation videos with; pass --split test')
    assert refusal() == ('price_head_interval.py: ValueError: no run to price: give WORK_DIRs '
                         'or --run CONFIG CHECKPOINT')
    # a run whose training stopped early
    stopped = tmp_path / 'tiny' / 'seed5'
    stopped.mkdir(parents=True)
    (stopped / 'tiny_test.py').write_text(open(config).read())
    (stopped / 'last_checkpoint').write_text(str(stopped / 'iter_1.pth'))
    assert refusal(str(stopped)) == (
        f'price_head_interval.py: FileNotFoundError: {stopped}/iter_2.pth: no such '
        "checkpoint, the end of the config's 2 iterations (training stopped at iter_1.pth: "
        'resume it first)')
    assert refusal(str(tmp_path)) == (
        f'price_head_interval.py: ValueError: {tmp_path}: not the work dir of an ablation run '
        '(it needs one <row>_test.py, found none)')
    assert refusal(str(tmp_path / 'nope')) == (
        f'price_head_interval.py: FileNotFoundError: {tmp_path}/nope: no such work dir')
    assert refusal(grid['work_dirs'][0], grid['work_dirs'][0]) == (
        'price_head_interval.py: ValueError: two runs are named tiny/seed0: give each run once')


def test_demo_work_dir(tmp_path):
    """A demo work dir: the demo's config pointed at its data as the demo points it, the
    validation loop on the validation videos; data of another recipe refused."""
    recipe = dict(seed=0, num_train=600, num_test=20, num_val=20)
    data = tmp_path / 'synthetic'
    data.mkdir()
    (data / 'demo_recipe.json').write_text(json.dumps(recipe))
    work = tmp_path / 'demo_seed1'
    work.mkdir()
    (work / 'demo_recipe.json').write_text(json.dumps(dict(recipe, train_seed=1)))
    (work / 'iter_2000.pth').write_bytes(b'')
    config = osp.join(REPO, 'configs', 'point3d_demo_synthetic.py')
    run = price.work_dir_run(str(work), config, str(data))
    assert run.name == 'demo_seed1' and run.checkpoint == str(work / 'iter_2000.pth')
    for split, gt in (('val', 'synthetic_val_gt.pkl'), ('test', 'synthetic_gt.pkl')):
        cfg = price.with_head_interval(price.ablation.split_config(run.cfg, split), 4)
        assert cfg.test_dataloader.dataset.data_root == str(data)
        assert cfg.test_dataloader.dataset.ann_file == gt
        assert [m.ann_file for m in cfg.test_evaluator] == [str(data / gt)] * 2
        assert cfg.model.test_cfg.head_interval == 4
    assert 'head_interval' not in (run.cfg.model.get('test_cfg') or {})  # a copy was changed
    (data / 'demo_recipe.json').write_text(json.dumps(dict(recipe, seed=3)))
    with pytest.raises(ValueError, match=r'demo_seed1 was trained on the data recipe .*'
                       r"'seed': 0.* but .*synthetic holds .*'seed': 3"):
        price.work_dir_run(str(work), config, str(data))
