"""CVAT "CVAT for video 1.1" XML exports to the ACT ground-truth format.

Annotate your own videos in CVAT (https://github.com/cvat-ai/cvat) as one task per video,
draw each actor as a *track* of boxes, and export the task as "CVAT for video 1.1". The
export looks like::

    <annotations>
      <version>1.1</version>
      <meta><task>
        <size>120</size> <start_frame>0</start_frame> <stop_frame>119</stop_frame>
        <labels><label><name>walk</name>...</label></labels>
        <original_size><width>320</width><height>240</height></original_size>
        <source>clip_0001.mp4</source>
      </task></meta>
      <track id="0" label="walk">
        <box frame="0" outside="0" occluded="0" keyframe="1" xtl=".." ytl=".." xbr=".." ybr="..">
          <attribute name="action">walk</attribute>
        </box>
        ...
      </track>
    </annotations>

How it maps to ACT tubes:

* A track is an actor. Its action class is the track's ``label``, or, with
  ``label_attribute='action'``, each box's ``<attribute name="action">`` (a track whose
  action changes becomes one tube per action).
* CVAT exports every frame of a track, the boxes it interpolated between keyframes
  included; they are taken as exported (``keyframe`` is ignored). ``outside="1"`` means the
  actor is out of view from that frame on: the tube ends there, and when the actor comes back
  the rest of the track is a new tube. An occluded box (``occluded="1"``) is still the actor
  and stays in the tube.
* Frame numbers: CVAT's are 0-based, ACT's 1-based: ACT frame = CVAT frame + 1, so frames
  extracted with :mod:`point3d_mm.datasets.preparation.frame_extraction` (``00001.jpg`` =
  first frame)
  line up. Tasks with a start frame or a frame step are refused (their frame numbers would
  not match the extracted frames).
* Boxes stay in CVAT's continuous pixel coordinates (``xbr`` may equal the width).
* ``nframes`` is the task's frame count and ``resolution`` its ``original_size``; the video
  name is the ``<source>`` file name without extension (or the task name).

The file is parsed with :mod:`xml.etree.ElementTree`; a document type declaration is refused
before any entity is defined, so entity-expansion attacks ("billion laughs") and external
entities cannot work.
"""
import os
import os.path as osp
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .csv_annotations import CsvRow, csv_to_act

PathLike = Union[str, os.PathLike]


@dataclass
class CvatVideo:
    """One video's annotations read from a CVAT XML file.

    Attributes:
        source: The XML file.
        video: The video name.
        nframes: Frames in the task.
        resolution: (h, w) from ``original_size``, or None when absent.
        labels: Class names the task declares, in declaration order (track labels, or the
            values of the label attribute).
        rows: One per visible box: (video, frame (1-based), x1, y1, x2, y2, class name,
            actor id = the track id).
    """
    source: str
    video: str
    nframes: int
    resolution: Optional[Tuple[int, int]]
    labels: List[str] = field(default_factory=list)
    rows: List[CsvRow] = field(default_factory=list)


class _NoDoctypeTreeBuilder(ET.TreeBuilder):
    """A tree builder that refuses any DOCTYPE, and with it every entity declaration."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self._source = source

    def doctype(self, name: str, pubid: Optional[str], system: Optional[str]) -> None:
        # expat calls this at the start of the declaration, before its entities are parsed.
        raise ValueError(f'{self._source}: refused: the XML has a document type declaration '
                         f'(<!DOCTYPE {name} ...>); CVAT exports have none, and its entities '
                         'could expand without bound')


def parse_xml(path: PathLike) -> ET.Element:
    """Parse an XML file without DOCTYPE/entities; the root element.

    Raises:
        ValueError: the file is not well-formed XML or has a DOCTYPE (the message names it).
    """
    path = os.fspath(path)
    parser = ET.XMLParser(target=_NoDoctypeTreeBuilder(path))
    try:
        with open(path, 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 20), b''):
                parser.feed(chunk)
        return parser.close()
    except ET.ParseError as error:
        raise ValueError(f'{path}: not well-formed XML: {error}') from None


def read_cvat_video(path: PathLike, label_attribute: Optional[str] = None,
                    video: Optional[str] = None) -> CvatVideo:
    """Read one task's "CVAT for video 1.1" export.

    Args:
        path: The XML file.
        label_attribute: Name of the per-box attribute holding the action class; None takes
            the track's label.
        video: The video name; default: the ``<source>`` file name without extension, or
            the task name.

    Returns:
        The video's boxes and metadata (see :class:`CvatVideo`).

    Raises:
        ValueError: not a CVAT for video 1.1 task export, a task with a start frame or frame
            step, a box without the label attribute or with a malformed number; the message
            names the file (and the track and frame).
    """
    path = os.fspath(path)
    root = parse_xml(path)
    if root.tag != 'annotations' or root.findtext('version', '').strip() != '1.1':
        raise ValueError(f'{path}: not a "CVAT for video 1.1" export (root <{root.tag}>, '
                         f"version {root.findtext('version')!r})")
    if root.find('image') is not None:
        raise ValueError(f'{path}: a "CVAT for images" export; export the task as '
                         '"CVAT for video 1.1"')
    task = root.find('meta/task')
    if task is None:
        task = root.find('meta/job')
    if task is None:
        raise ValueError(f'{path}: no <meta><task> element: export one task as '
                         '"CVAT for video 1.1"')
    start = _int(task, 'start_frame', path, default=0)
    frame_filter = (task.findtext('frame_filter') or '').strip()
    if start != 0 or frame_filter not in ('', 'step=1'):
        raise ValueError(f'{path}: the task starts at frame {start} with frame filter '
                         f"'{frame_filter}'; only tasks over every frame of a video from its "
                         'first frame are supported (their frame numbers match the '
                         'extracted frames)')
    stop = task.findtext('stop_frame')
    nframes = (_int(task, 'stop_frame', path) + 1 if stop not in (None, '')
               else _int(task, 'size', path))
    width, height = task.findtext('original_size/width'), task.findtext('original_size/height')
    resolution = ((_int(task, 'original_size/height', path),
                   _int(task, 'original_size/width', path)) if width and height else None)
    if video is None:
        source = (task.findtext('source') or '').strip()
        video = osp.splitext(osp.basename(source))[0] if source else task.findtext('name')
    if not video:
        raise ValueError(f'{path}: the task names no source video; pass the video name')
    result = CvatVideo(path, video, nframes, resolution,
                       labels=_declared_labels(task, label_attribute))
    for track in root.iterfind('track'):
        result.rows.extend(_track_rows(track, video, label_attribute, path))
    return result


def _declared_labels(task: ET.Element, label_attribute: Optional[str]) -> List[str]:
    names: List[str] = []
    for label in task.iterfind('labels/label'):
        if label_attribute is None:
            names.append((label.findtext('name') or '').strip())
            continue
        for attribute in label.iterfind('attributes/attribute'):
            if (attribute.findtext('name') or '').strip() == label_attribute:
                names.extend(v.strip() for v in (attribute.findtext('values') or '').split('\n')
                             if v.strip())
    return list(dict.fromkeys(name for name in names if name))


def _track_rows(track: ET.Element, video: str, label_attribute: Optional[str],
                path: str) -> List[CsvRow]:
    """Rows of the visible boxes of one track (other shapes than boxes are ignored)."""
    track_id = track.get('id', '?')
    rows = []
    for box in track.iterfind('box'):
        where = f"track {track_id} (label '{track.get('label')}') frame {box.get('frame')}"
        if box.get('outside', '0') == '1':
            continue
        if label_attribute is None:
            label = track.get('label')
        else:
            values = [a.text for a in box.iterfind('attribute')
                      if a.get('name') == label_attribute]
            if not values or not (values[0] or '').strip():
                raise ValueError(f"{path}: {where}: the box has no '{label_attribute}' "
                                 'attribute holding the action class')
            label = values[0].strip()
        try:
            frame = int(box.get('frame'))
            coords = [float(box.get(key)) for key in ('xtl', 'ytl', 'xbr', 'ybr')]
        except (TypeError, ValueError):
            raise ValueError(f'{path}: {where}: malformed box attributes '
                             f'{dict(box.attrib)}') from None
        rows.append((video, frame + 1, *coords, label, str(track_id)))
    return rows


def _int(element: ET.Element, tag: str, path: str, default: Optional[int] = None) -> int:
    """The integer in ``element``'s ``tag``, or ``default`` when there is none."""
    text = element.findtext(tag)
    if default is not None and not (text or '').strip():
        return default
    try:
        return int(text)
    except (TypeError, ValueError):
        raise ValueError(f'{path}: <{tag}> is {text!r}, expected an integer') from None


def check_labels(cvat: CvatVideo, labels: Sequence[str]) -> None:
    """Raise if a box's class is not in ``labels``, naming the file, the track and the label.
    """
    known = set(labels)
    for row in cvat.rows:
        if row[6] not in known:
            raise ValueError(f"{cvat.source}: track {row[7]} (frame {row[1] - 1}): unknown "
                             f"label '{row[6]}' (known labels: {', '.join(labels)})")


def cvat_to_act(paths: Sequence[PathLike], labels: Optional[Sequence[str]] = None,
                label_attribute: Optional[str] = None,
                videos: Optional[Sequence[str]] = None,
                test_videos: Optional[Sequence[str]] = None,
                nframes: Optional[Mapping[str, int]] = None,
                resolution: Optional[Mapping[str, Tuple[int, int]]] = None) -> Dict:
    """Build an ACT ground truth from CVAT for video 1.1 exports, one file per video.

    Args:
        paths: The XML files.
        labels: Class names in label-index order; default: the classes the first file
            declares (or, if it declares none, the sorted names in use).
        label_attribute: See :func:`read_cvat_video`.
        videos: Video names, one per file; default: each file's source video name.
        test_videos: Videos of the test split (the others are the train split).
        nframes: Frame counts overriding the tasks' (e.g. counted on disk).
        resolution: (h, w) per video overriding or completing the files' ``original_size``.

    Returns:
        A normalised ACT dict with one split. Tubes of a label are in order of first
        appearance; a track gives one tube per visible span.

    Raises:
        ValueError: a file cannot be read (see :func:`read_cvat_video`), a box has an
            unknown label (naming the file, track and label), two files give the same video,
            a video has no resolution, or the result has a problem (frames outside
            1..nframes, ...).
    """
    if videos is not None and len(videos) != len(paths):
        raise ValueError(f'{len(paths)} CVAT files but {len(videos)} video names')
    cvats = [read_cvat_video(path, label_attribute, None if videos is None else videos[i])
             for i, path in enumerate(paths)]
    if labels is None:
        labels = cvats[0].labels if cvats and cvats[0].labels else sorted(
            {row[6] for cvat in cvats for row in cvat.rows})
    seen: Dict[str, str] = {}
    for cvat in cvats:
        check_labels(cvat, labels)
        if cvat.video in seen:
            raise ValueError(f"{cvat.source}: video '{cvat.video}' is also annotated by "
                             f'{seen[cvat.video]}; pass distinct video names')
        seen[cvat.video] = cvat.source
    sizes = {cvat.video: cvat.resolution for cvat in cvats if cvat.resolution}
    sizes.update(resolution or {})
    missing = [cvat.source for cvat in cvats if cvat.video not in sizes]
    if missing:
        raise ValueError(f"{missing[0]}: no <original_size> in the file; pass the video's "
                         'resolution')
    counts = {cvat.video: cvat.nframes for cvat in cvats}
    counts.update(nframes or {})
    test = list(test_videos or [])
    return csv_to_act([row for cvat in cvats for row in cvat.rows], labels=labels,
                      nframes=counts, resolution=sizes,
                      train_videos=[[v for v in seen if v not in test]], test_videos=[test],
                      source=', '.join(cvat.source for cvat in cvats))
