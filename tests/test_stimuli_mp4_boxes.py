"""The MP4 layout browsers rely on: index before data, keyframes where segments start, no B-frames."""

from __future__ import annotations

import json
import struct


def boxes(data: bytes, start: int = 0, end: int | None = None):
    """(type, payload start, payload end) of the boxes in data[start:end]."""
    end = len(data) if end is None else end
    while start < end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[start + 8:start + 16])[0], 16
        yield kind.decode(), start + header, start + size
        start += size


def find(data: bytes, path: list[str], start: int = 0, end: int | None = None):
    for kind, a, b in boxes(data, start, end):
        if kind == path[0]:
            if len(path) == 1:
                return a, b
            return find(data, path[1:], a, b)
    return None


CONTAINERS = ["moov", "trak", "mdia", "minf", "stbl"]


def test_every_video_has_faststart_keyframes_at_segments_and_no_reordering(small_experiment):
    stimuli = json.loads((small_experiment / "stimuli.json").read_text())
    fixation = stimuli["fixation_frames"]
    for video in stimuli["videos"].values():
        data = (small_experiment / video["file"]).read_bytes()
        top = [kind for kind, _, _ in boxes(data)]
        assert top[0] == "ftyp" and top.index("moov") < top.index("mdat")
        names = [kind for kind, _, _ in boxes(data, *find(data, CONTAINERS))]
        assert "ctts" not in names and "stss" in names and "stts" in names
        a, b = find(data, CONTAINERS + ["stss"])
        count = struct.unpack(">I", data[a + 4:a + 8])[0]
        keyframes = list(struct.unpack(f">{count}I", data[a + 8:a + 8 + 4 * count]))
        assert keyframes == [1, fixation + 1, fixation + video["frames"] + 1]
        a, b = find(data, CONTAINERS + ["stts"])
        entries = struct.unpack(">I", data[a + 4:a + 8])[0]
        sample_count, sample_delta = struct.unpack(">II", data[a + 8:a + 16])
        assert entries == 1 and sample_count == video["total_frames"]
        mdhd = find(data, ["moov", "trak", "mdia", "mdhd"])
        version = data[mdhd[0]]
        timescale = struct.unpack(">I", data[mdhd[0] + (20 if version == 1 else 12):][:4])[0]
        assert timescale == 60 * sample_delta
