"""A minimal, deterministic MP4 (ISO BMFF) writer for one constant-frame-rate H.264 track.

Writing the container in-process saves one ffmpeg process per video. The layout is what
``ffmpeg -c copy -movflags +faststart`` writes for such a stream (``moov`` before ``mdat``,
one chunk, an ``avcC`` built from the stream's SPS/PPS, sync samples listed in ``stss``) with
no creation time or encoder tag, so equal input gives equal bytes.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from stimuli import h264

#: Media timescale: ffmpeg's choice for 60 fps, 256 ticks per frame, so times are exact.
TIMESCALE = 15360
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I", 8 + len(body)) + kind + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


def _avcc(sps: bytes, pps: bytes) -> bytes:
    info = h264.parse_sps(sps)
    body = bytes([1, sps[1], sps[2], sps[3], 0xFF, 0xE1]) + struct.pack(">H", len(sps)) + sps
    body += bytes([1]) + struct.pack(">H", len(pps)) + pps
    if info.profile_idc in (100, 110, 122, 144):
        # 4:2:0, 8-bit, no SPS extensions (ISO/IEC 14496-15 5.3.3.1.2).
        body += bytes([0xFC | 1, 0xF8, 0xF8, 0])
    return _box(b"avcC", body)


def mp4_bytes(access_units: list[list[bytes]], fps: int = 60) -> bytes:
    """An MP4 file holding the access units (lists of NAL units) as one video track.

    The first access unit must carry the SPS and PPS; parameter sets are moved into the
    ``avcC`` sample entry and dropped from the samples, other NAL units are kept.

    Parameters
    ----------
    access_units : list of list of bytes
        Pictures in decoding (= presentation) order; no B-frames.
    fps : int
        Frame rate in frames per second; must divide `TIMESCALE`.

    Returns
    -------
    data : bytes
    """
    if TIMESCALE % fps:
        raise ValueError(f"fps ({fps}) must divide {TIMESCALE}")
    sps = next((n for n in access_units[0] if h264.nal_type(n) == h264.NAL_SPS), None)
    pps = next((n for n in access_units[0] if h264.nal_type(n) == h264.NAL_PPS), None)
    if sps is None or pps is None:
        raise ValueError("the first access unit carries no SPS/PPS")
    info = h264.parse_sps(sps)
    samples, sync = [], []
    for i, au in enumerate(access_units):
        nals = [n for n in au if h264.nal_type(n) not in (h264.NAL_SPS, h264.NAL_PPS)]
        samples.append(b"".join(struct.pack(">I", len(n)) + n for n in nals))
        if any(h264.nal_type(n) == h264.NAL_IDR for n in nals):
            sync.append(i + 1)
    n = len(samples)
    delta = TIMESCALE // fps
    duration = n * delta
    movie_duration = n * 1000 // fps

    avc1 = _box(
        b"avc1", bytes(6), struct.pack(">H", 1), bytes(16),
        struct.pack(">HHIIIH", info.width, info.height, 0x480000, 0x480000, 0, 1),
        bytes(32), struct.pack(">Hh", 0x18, -1), _avcc(sps, pps))
    stbl_tail = [
        _full_box(b"stts", 0, 0, struct.pack(">III", 1, n, delta)),
        _full_box(b"stss", 0, 0, struct.pack(">I", len(sync)), *(struct.pack(">I", s) for s in sync)),
        _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, n, 1)),
        _full_box(b"stsz", 0, 0, struct.pack(">II", 0, n), *(struct.pack(">I", len(s)) for s in samples)),
    ]

    def moov(chunk_offset: int) -> bytes:
        stbl = _box(b"stbl", _full_box(b"stsd", 0, 0, struct.pack(">I", 1), avc1), *stbl_tail,
                    _full_box(b"stco", 0, 0, struct.pack(">II", 1, chunk_offset)))
        minf = _box(
            b"minf", _full_box(b"vmhd", 0, 1, bytes(8)),
            _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1))),
            stbl)
        mdia = _box(
            b"mdia",
            _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, TIMESCALE, duration, 0x55C4, 0)),
            _full_box(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"VideoHandler\x00"),
            minf)
        tkhd = _full_box(
            b"tkhd", 0, 3, struct.pack(">IIIII", 0, 0, 1, 0, movie_duration), bytes(8),
            struct.pack(">hhhH", 0, 0, 0, 0), _MATRIX,
            struct.pack(">II", info.width << 16, info.height << 16))
        mvhd = _full_box(
            b"mvhd", 0, 0, struct.pack(">IIII", 0, 0, 1000, movie_duration),
            struct.pack(">IH", 0x10000, 0x100), bytes(10), _MATRIX, bytes(24), struct.pack(">I", 2))
        return _box(b"moov", mvhd, _box(b"trak", tkhd, mdia))

    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso2avc1mp41")
    moov_size = len(moov(0))
    header = ftyp + moov(len(ftyp) + moov_size + 8)
    payload = b"".join(samples)
    return header + struct.pack(">I", 8 + len(payload)) + b"mdat" + payload


def top_level_boxes(path: str | os.PathLike) -> list[tuple[bytes, int]]:
    """The (type, size) of each top-level box; raises `ValueError` unless they tile the file."""
    path = Path(path)
    total = path.stat().st_size
    boxes = []
    with path.open("rb") as f:
        offset = 0
        while offset < total:
            f.seek(offset)
            head = f.read(8)
            if len(head) < 8:
                raise ValueError(f"{path}: truncated box header at byte {offset}")
            size, kind = struct.unpack(">I4s", head)
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0]
            if size < 8 or offset + size > total:
                raise ValueError(f"{path}: box {kind!r} at byte {offset} overruns the file")
            boxes.append((kind, size))
            offset += size
    return boxes


def looks_complete(path: str | os.PathLike) -> bool:
    """Quick check of a finished video: non-empty, boxes tile the file, ftyp, moov and mdat present."""
    try:
        kinds = [k for k, _ in top_level_boxes(path)]
    except (OSError, ValueError):
        return False
    return bool(kinds) and kinds[0] == b"ftyp" and b"moov" in kinds and b"mdat" in kinds
