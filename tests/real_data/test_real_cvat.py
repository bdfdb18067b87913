"""CVAT "CVAT for video 1.1" exports to ACT tubes."""
import numpy as np
import pytest

from point3d_mm.datasets.preparation.cvat import cvat_to_act, read_cvat_video
from point3d_mm.datasets.preparation.dataset_check import validate_act
from point3d_mm.structures.act_format import load_act

META = '''<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task>
      <id>7</id><name>task 7</name><size>12</size><mode>interpolation</mode>
      <overlap>0</overlap><start_frame>0</start_frame><stop_frame>11</stop_frame>
      <frame_filter></frame_filter>
      <labels>
        <label><name>walk</name><attributes><attribute><name>action</name>
          <values>stand
sit</values></attribute></attributes></label>
        <label><name>wave</name></label>
      </labels>
      <original_size><width>320</width><height>240</height></original_size>
      <source>clip_01.mp4</source>
    </task>
  </meta>
'''


def box(frame, x, outside=0, occluded=0, keyframe=1, action=None):
    """A ``<box>`` of CVAT's export: (x, 10) to (x + 20, 50), optionally an action attr."""
    attr = '' if action is None else f'<attribute name="action">{action}</attribute>'
    return (f'<box frame="{frame}" outside="{outside}" occluded="{occluded}" '
            f'keyframe="{keyframe}" xtl="{x}.00" ytl="10.00" xbr="{x + 20}.50" ybr="50.00" '
            f'z_order="0">{attr}</box>')


def two_tracks() -> str:
    """Track 0 ('walk'): frames 0-3, occluded 2-3 (interpolated 1, 3), out of view at 4
    (CVAT exports nothing for 5), back at 6-8, out at 9. Track 1 ('wave'): frames 3-11, to
    the end of the task (no outside box)."""
    walk = [box(0, 100), box(1, 102, keyframe=0), box(2, 104, occluded=1),
            box(3, 106, occluded=1, keyframe=0), box(4, 106, outside=1),
            box(6, 50), box(7, 52, keyframe=0), box(8, 54), box(9, 54, outside=1)]
    wave = [box(f, 200 + f, keyframe=int(f in (3, 11))) for f in range(3, 12)]
    return (META + '<track id="0" label="walk" source="manual">' + ''.join(walk) +
            '</track><track id="1" label="wave" source="manual">' + ''.join(wave) +
            '</track></annotations>')


def expected_tube(frames, xs):
    """ACT rows: frame + 1 (1-based), boxes as exported."""
    return np.array([[f + 1, x, 10, x + 20.5, 50] for f, x in zip(frames, xs)], np.float32)


def test_two_tracks_leaving_reentering_and_occluded(tmp_path):
    xml = tmp_path / 'clip_01.xml'
    xml.write_text(two_tracks())
    act = cvat_to_act([xml], test_videos=['clip_01'])
    assert act['labels'] == ['walk', 'wave']  # declared order
    assert act['nframes'] == {'clip_01': 12}
    assert act['resolution'] == {'clip_01': (240, 320)}
    assert act['train_videos'] == [[]] and act['test_videos'] == [['clip_01']]
    walk, wave = act['gttubes']['clip_01'][0], act['gttubes']['clip_01'][1]
    # Leaving at frame 4 ends the first tube (occluded frames 2-3 stay in it); coming back
    # at frame 6 starts a second one.
    assert len(walk) == 2
    np.testing.assert_array_equal(walk[0], expected_tube(range(4), [100, 102, 104, 106]))
    np.testing.assert_array_equal(walk[1], expected_tube(range(6, 9), [50, 52, 54]))
    assert len(wave) == 1
    np.testing.assert_array_equal(wave[0], expected_tube(range(3, 12),
                                                         [200 + f for f in range(3, 12)]))
    assert validate_act(act) == []


def test_per_box_attribute_labels_split_tubes_where_the_action_changes(tmp_path):
    boxes = [box(f, 10 * f, action='stand' if f < 3 else 'sit') for f in range(5)]
    xml = tmp_path / 'a.xml'
    xml.write_text(META + '<track id="4" label="walk">' + ''.join(boxes) + '</track>'
                   '</annotations>')
    act = cvat_to_act([xml], label_attribute='action', videos=['my_video'])
    assert act['labels'] == ['stand', 'sit']  # the attribute's declared values
    tubes = act['gttubes']['my_video']
    np.testing.assert_array_equal(tubes[0][0], expected_tube(range(3), [0, 10, 20]))
    np.testing.assert_array_equal(tubes[1][0], expected_tube(range(3, 5), [30, 40]))


def test_tool_writes_a_loadable_pickle(tmp_path, run_tool):
    xml = tmp_path / 'clip_01.xml'
    xml.write_text(two_tracks())
    labels = tmp_path / 'labels.txt'
    labels.write_text('wave\nwalk\n')
    out = tmp_path / 'gt.pkl'
    status, stdout, _ = run_tool('convert_cvat', out, xml, '--labels', labels)
    assert status == 0 and '1 videos, 2 labels, 3 tubes' in stdout
    act = load_act(out)
    assert act['labels'] == ['wave', 'walk']
    assert [len(act['gttubes']['clip_01'][label]) for label in (0, 1)] == [1, 2]


def test_unknown_label_names_file_track_and_label(tmp_path):
    xml = tmp_path / 'clip_01.xml'
    xml.write_text(two_tracks())
    with pytest.raises(ValueError, match=r"clip_01.xml: track 1 \(frame 3\): unknown label "
                       r"'wave' \(known labels: walk, run\)"):
        cvat_to_act([xml], labels=['walk', 'run'])


@pytest.mark.parametrize('text, message', [
    ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 '
     '"&lol;&lol;&lol;&lol;">]><annotations><version>1.1</version>&lol2;</annotations>',
     'refused: the XML has a document type declaration'),
    ('<annotations><version>1.1</version><meta><task>', 'not well-formed XML'),
    ('<annotations><version>1.1</version><image id="0" name="a.jpg"/></annotations>',
     'a "CVAT for images" export'),
    ('<annotations><version>1.0</version></annotations>', 'not a "CVAT for video 1.1"'),
    (META.replace('<start_frame>0', '<start_frame>5') + '</annotations>',
     'the task starts at frame 5'),
    (META + '<track id="3" label="walk">' + box(0, 1).replace('xtl="1.00"', 'xtl="a"') +
     '</track></annotations>', r"track 3 \(label 'walk'\) frame 0: malformed box"),
])
def test_bad_xml_gives_one_clear_message_naming_the_file(tmp_path, text, message):
    xml = tmp_path / 'bad.xml'
    xml.write_text(text)
    with pytest.raises(ValueError, match='bad.xml: .*' + message):
        read_cvat_video(xml)


def test_missing_label_attribute_names_track_and_frame(tmp_path):
    xml = tmp_path / 'a.xml'
    xml.write_text(META + '<track id="2" label="walk">' + box(0, 1) + '</track>'
                   '</annotations>')
    with pytest.raises(ValueError, match=r"a.xml: track 2 \(label 'walk'\) frame 0: the box "
                       "has no 'action' attribute"):
        read_cvat_video(xml, label_attribute='action')
