"""Just enough H.264 (Annex B) parsing to split, check and splice encoder output.

The builder reuses encoded access units across videos (see `stimuli.encode`); these helpers
split a byte stream into NAL units and access units and read the few header fields the reuse
depends on (ITU-T H.264 sections 7.3.2.1 and 7.3.3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAL_SLICE = 1
NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8

_START_CODE = re.compile(b"\x00\x00\x01")
_EMULATION = re.compile(b"\x00\x00\x03")


def split_nals(stream: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream, without start codes (zero bytes trimmed)."""
    starts = [m.end() for m in _START_CODE.finditer(stream)]
    nals = []
    for i, start in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(stream)
        nal = stream[start:end].rstrip(b"\x00")
        if nal:
            nals.append(nal)
    return nals


def nal_type(nal: bytes) -> int:
    """``nal_unit_type`` of a NAL unit (its first byte's low five bits)."""
    return nal[0] & 0x1F


def is_vcl(nal: bytes) -> bool:
    """Whether the NAL unit is a coded slice (non-IDR or IDR)."""
    return nal_type(nal) in (NAL_SLICE, NAL_IDR)


def split_access_units(stream: bytes) -> list[list[bytes]]:
    """Group the NAL units of a single-slice-per-picture stream into access units.

    Parameter sets and SEI belong to the picture that follows them.
    """
    units: list[list[bytes]] = []
    pending: list[bytes] = []
    for nal in split_nals(stream):
        pending.append(nal)
        if is_vcl(nal):
            units.append(pending)
            pending = []
    if pending:
        raise ValueError(f"stream ends with {len(pending)} NAL unit(s) after its last picture")
    return units


def annex_b(nals: list[bytes]) -> bytes:
    """NAL units joined as an Annex B byte stream (4-byte start codes)."""
    return b"".join(b"\x00\x00\x00\x01" + nal for nal in nals)


def rbsp(nal: bytes) -> bytes:
    """The payload of a NAL unit with emulation-prevention bytes removed (header byte dropped)."""
    return _EMULATION.sub(b"\x00\x00", nal[1:])


class BitReader:
    """Reads fixed-width and Exp-Golomb fields from an RBSP, most significant bit first."""

    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "big")
        self.n_bits = 8 * len(data)
        self.pos = 0

    def u(self, n: int) -> int:
        """An unsigned ``n``-bit field."""
        if self.pos + n > self.n_bits:
            raise ValueError("read past the end of the NAL unit")
        self.pos += n
        return (self.value >> (self.n_bits - self.pos)) & ((1 << n) - 1)

    def ue(self) -> int:
        """An unsigned Exp-Golomb field."""
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        """A signed Exp-Golomb field."""
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)


@dataclass(frozen=True)
class SPS:
    """The sequence parameter set fields the splicing depends on."""

    profile_idc: int
    level_idc: int
    log2_max_frame_num: int
    pic_order_cnt_type: int
    max_num_ref_frames: int
    width: int
    height: int


def parse_sps(nal: bytes) -> SPS:
    """Read an SPS NAL unit (no scaling matrices, frame coding only, as x264 writes by default)."""
    r = BitReader(rbsp(nal))
    profile_idc = r.u(8)
    r.u(8)
    level_idc = r.u(8)
    r.ue()
    if profile_idc in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        chroma_format_idc = r.ue()
        if chroma_format_idc == 3:
            r.u(1)
        r.ue(), r.ue(), r.u(1)
        if r.u(1):
            raise ValueError("SPS with scaling matrices is not supported")
    log2_max_frame_num = r.ue() + 4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.u(1), r.se(), r.se()
        for _ in range(r.ue()):
            r.se()
    max_num_ref_frames = r.ue()
    r.u(1)
    width_mbs = r.ue() + 1
    height_map_units = r.ue() + 1
    if not r.u(1):
        raise ValueError("interlaced SPS is not supported")
    r.u(1)
    crop = (0, 0, 0, 0)
    if r.u(1):
        crop = (r.ue(), r.ue(), r.ue(), r.ue())
    return SPS(
        profile_idc=profile_idc,
        level_idc=level_idc,
        log2_max_frame_num=log2_max_frame_num,
        pic_order_cnt_type=poc_type,
        max_num_ref_frames=max_num_ref_frames,
        width=16 * width_mbs - 2 * (crop[0] + crop[1]),
        height=16 * height_map_units - 2 * (crop[2] + crop[3]),
    )


@dataclass(frozen=True)
class SliceHeader:
    """The leading slice-header fields that identify a picture."""

    nal_type: int
    first_mb: int
    slice_type: int
    frame_num: int
    idr_pic_id: int | None


def parse_slice_header(nal: bytes, sps: SPS) -> SliceHeader:
    """Read the first fields of a slice header (frame coding, separate_colour_plane off)."""
    r = BitReader(rbsp(nal[:64]))
    first_mb = r.ue()
    slice_type = r.ue() % 5
    r.ue()
    frame_num = r.u(sps.log2_max_frame_num)
    idr_pic_id = r.ue() if nal_type(nal) == NAL_IDR else None
    return SliceHeader(nal_type(nal), first_mb, slice_type, frame_num, idr_pic_id)
