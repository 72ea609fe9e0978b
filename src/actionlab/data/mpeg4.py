"""MPEG-4 Part 2 (DivX, Xvid, FFmpeg's mpeg4) in packet order: which decoded frame each packet yields.

AVI stores packets in decode order and no presentation times, so a demuxer's timestamps for an
MPEG-4 stream with B-frames are guesses.  DivX and Xvid make it worse with *packed* bitstreams
(UCF101 and HMDB51 are stored this way): a chunk holds an anchor VOP and the B-VOP shown before
it (`[P B]`, also `[I B]` at a keyframe), and the next chunk is a placeholder N-VOP (a VOP with
vop_coded = 0) that keeps the chunk count equal to the frame count.  The guessed timestamps can
even increase (one B-frame per anchor) while naming the wrong frame: the i-th smallest timestamp
is then frame i + 1 or i - 1 of the decode.

This module reads what the decoder reads instead - the VOP start codes (0x000001B6) in every
packet, each VOP's vop_coding_type and vop_coded bit, the VOL header's time-increment width and
low_delay flag, and the "DivX...p" user data that tells FFmpeg's decoder the stream is packed - and
replays FFmpeg's mpeg4 decoder at the level of whole VOPs (`replay`):

- a packed stream keeps the I- or B-VOP that follows the decoded VOP in the same packet and decodes
  it on the next call, instead of that call's packet (a placeholder N-VOP); a packet that starts
  with a VOS header drops such a kept VOP; nothing is kept from a packet of 7 bytes or less past
  the decoded VOP, or when the decoded VOP was not decoded to its end (skipped B, no reference);
- a VOP with vop_coded = 0 yields nothing;
- a B-VOP before two anchors were decoded (after the start or a flush) is dropped;
- with B-frames (low_delay = 0) an anchor comes out when the next anchor is decoded (or at the
  end), a B-VOP as soon as it is decoded.

Frame i of the file is the i-th output of the replay from packet 0.  A read can then start at
any packet whose first VOP is a coded I-VOP (the AVI keyframe flag is not trusted: Xvid flags the
N-VOP after a packed `[I B]` chunk), decode forward, and number its outputs by the replay of that
run; the reader checks every output's picture type against the replay and falls back to a plain
sequential decode when one differs.  Streams this module cannot read with certainty (no VOL
header, a time-increment width the VOP headers contradict, low_delay that the decoder would change
mid-stream) are left to the sequential path (`StreamFacts.unsupported` says why).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

VOP_START = b"\x00\x00\x01\xb6"
START = b"\x00\x00\x01"
VOS_CODE = 0xB0
USER_DATA_CODE = 0xB2
#: FFmpeg keeps a packed VOP only when more than this many bytes of the packet follow the decoded one
KEEP_MIN_BYTES = 7
#: without the packed flag, FFmpeg still decodes a kept VOP in place of a packet this small (an N-VOP)
MAX_NVOP_SIZE = 19
#: packets up to this size without headers are described once per distinct content (`describe_packets`)
SMALL_PACKET = 16
TYPES = "IPBS"
#: PyAV's `frame.pict_type` values for I, P, B and S (GMC sprite) VOPs
PICT_TYPE = {"I": 1, "P": 2, "B": 3, "S": 4}
_DIVX = re.compile(rb"DivX(\d+)(?:Build|b)(\d+)(.?)")


class Vop(NamedTuple):  # a NamedTuple: made for every VOP of every scan, it must be cheap to build
    """One VOP in a packet: coding type (I, P, B or S), vop_coded, byte offset of its start code."""

    type: str
    coded: bool
    offset: int


@dataclass
class StreamFacts:
    """What the headers say: VOL fields the VOP headers need and how FFmpeg's decoder will treat the stream."""

    time_increment_bits: int = 0
    vol_control: bool = False
    low_delay: bool | None = None
    vo_type: int = 0
    packed: bool = False
    has_b: bool = False
    vol_in_extradata: bool = False  # a decoder opened on the file knows the VOL before any packet
    unsupported: str | None = None

    def note(self, reason: str) -> None:
        if self.unsupported is None:
            self.unsupported = reason


class _Bits:
    """Big-endian bit reader over a bytes object (only the few header fields this module needs)."""

    def __init__(self, data: bytes, byte: int):
        self.data = data
        self.pos = byte * 8

    def read(self, n: int) -> int:
        if n == 0:
            return 0
        start, end = self.pos // 8, (self.pos + n + 7) // 8
        if end > len(self.data):
            raise EOFError
        chunk = int.from_bytes(self.data[start:end], "big")
        shift = (end - start) * 8 - (self.pos % 8) - n
        self.pos += n
        return (chunk >> shift) & ((1 << n) - 1)


def parse_vol(data: bytes, at: int, facts: StreamFacts) -> int:
    """video_object_layer header (ISO/IEC 14496-2 6.2.3) from the byte after its start code; returns the end
    of the bytes it read (len(data) + 1 when it ran out of them: then the result depends on the length)."""
    b = _Bits(data, at)
    try:
        b.read(1)  # random_accessible_vol
        facts.vo_type = b.read(8)
        verid = 1
        if b.read(1):  # is_object_layer_identifier
            verid = b.read(4)
            b.read(3)
        if b.read(4) == 0xF:  # aspect_ratio_info: extended PAR
            b.read(16)
        facts.vol_control = bool(b.read(1))
        if facts.vol_control:
            b.read(2)  # chroma_format
            facts.low_delay = bool(b.read(1))
            if b.read(1):  # vbv_parameters
                b.read(79)
        elif facts.low_delay is None:  # FFmpeg: simple and advanced simple profiles default to low delay
            facts.low_delay = facts.vo_type in (1, 17)
        shape = b.read(2)
        if shape == 3 and verid != 1:
            b.read(4)
        if shape != 0:
            facts.note("non-rectangular MPEG-4 shape")
        b.read(1)  # marker
        resolution = b.read(16)
        facts.time_increment_bits = max(1, (resolution - 1).bit_length()) if resolution else 0
        if not resolution:
            facts.note("VOL header with a zero time-increment resolution")
    except EOFError:
        facts.note("truncated VOL header")
        return len(data) + 1
    return (b.pos + 7) // 8


def parse_user_data(data: bytes, at: int, facts: StreamFacts) -> int:
    """FFmpeg's decoder sets its packed-bitstream mode from user data "DivX<ver>b<build>p" (or Build); returns
    the end of the bytes read, as `parse_vol` does."""
    window = data[at: at + 255]
    cut = window.find(b"\x00\x00")
    m = _DIVX.match(window if cut < 0 else window[:cut])
    if m:
        facts.packed = m.group(3) == b"p"
    if cut >= 0:
        return at + cut + 2
    return at + 255 if len(window) == 255 else len(data) + 1


def parse_headers(data: bytes, facts: StreamFacts) -> bool:
    """VOL and user-data headers in `data` before its first VOP (extradata, or a keyframe packet that
    repeats them); True when a VOL header was among them."""
    return _parse_headers(data, facts)[0]


def _parse_headers(data: bytes, facts: StreamFacts) -> tuple[bool, int]:
    """`parse_headers`, and the end of the bytes its result depends on (through the first VOP's start code;
    len(data) + 1 when it depends on the packet's length)."""
    vol = False
    end = 0
    i = data.find(START)
    while 0 <= i < len(data) - 4:
        code = data[i + 3]
        if 0x20 <= code <= 0x2F:
            end = max(end, parse_vol(data, i + 4, facts))
            vol = True
        elif code == USER_DATA_CODE:
            end = max(end, parse_user_data(data, i + 4, facts))
        elif code == 0xB6:
            return vol, max(end, i + 4)
        i = data.find(START, i + 3)
    return vol, len(data) + 1


_WORD = (1 << 64) - 1
_tuple = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hundreds per scan)


class Packet(NamedTuple):
    """What the replay needs of one packet: its VOPs, its size, whether it starts with a VOS header."""

    vops: tuple[Vop, ...]
    size: int
    starts_with_vos: bool
    has_vol: bool = False


def describe_packet(data: bytes, facts: StreamFacts) -> Packet:
    """One packet's VOPs and headers (`describe_packets` for a whole stream)."""
    return describe_packets([data], facts)[0]


def describe_packets(datas: Iterable[bytes], facts: StreamFacts) -> list[Packet]:
    """Every packet's VOPs and headers, in stream order; headers update `facts` where they appear.

    A packet of up to `SMALL_PACKET` bytes without headers (N-VOP placeholders, repeated through a packed
    stream) equal to one described before under the same VOL gets that description again.  Encoders repeat
    the same VOS/VOL/user-data headers before every I-VOP: a packet whose bytes from its
    first start code on begin with all the bytes the last header parse read (through the first VOP's start
    code) is not parsed again: it would set the same fields to the same values."""
    described: list[Packet] = []
    last_headers: bytes | None = None
    last_vol = False
    bits = facts.time_increment_bits  # changes only where `parse_headers` reads a VOL
    small: dict[bytes, Packet] = {}  # packets of a few bytes without headers (N-VOPs: half of a packed AVI's)
    for data in datas:
        size = len(data)
        if size <= SMALL_PACKET:
            known = small.get(data)
            if known is not None:
                described.append(known)
                continue
        first = data.find(START)
        if first < 0:
            described.append(Packet((), size, False))
            continue
        vop_at = data.find(VOP_START, first)
        vos = vol = False
        headerless = vop_at == first
        if not headerless:  # headers before the first VOP (VOS, VOL, user data), or no VOP at all
            vos = first + 3 < size and data[first + 3] == VOS_CODE
            if last_headers is None or not data.startswith(last_headers, first):
                last_vol, end = _parse_headers(data, facts)
                last_headers = data[first: end] if end <= size else None  # None: depends on the length
                if facts.time_increment_bits != bits:
                    bits = facts.time_increment_bits
                    small.clear()
            vol = last_vol
        vops: list[Vop] = []
        while vop_at >= 0:  # each VOP header from one 64-bit window (inline: this runs for every VOP of a scan):
            # coding type (2 bits), modulo_time_base (ones ended by a zero), marker, vop_time_increment, marker,
            # vop_coded; a marker that is 0 means a wrong time-increment width
            chunk = data[vop_at + 4: vop_at + 12]
            avail = 8 * len(chunk)
            word = int.from_bytes(chunk, "big") << (64 - avail)
            pos = 67 - ((~word << 2) & _WORD).bit_length()
            last = pos + bits + 2
            if last >= avail or not (word >> (63 - pos)) & 1 or not (word >> (64 - last)) & 1:
                facts.note(f"a VOP header that does not parse with {bits} time-increment bits")
                break
            kind = TYPES[word >> 62]
            if kind == "B":
                facts.has_b = True
            vops.append(_tuple(Vop, (kind, bool((word >> (63 - last)) & 1), vop_at)))
            vop_at = data.find(VOP_START, vop_at + 4)
        packet = _tuple(Packet, (tuple(vops), size, vos, vol))
        described.append(packet)
        if size <= SMALL_PACKET and headerless:  # no headers: a function of the bytes and the VOL alone
            small[data] = packet
    return described


# --------------------------------------------------------------------------- the replay

VopId = tuple[int, int]  # (packet position, index of the VOP in the packet)


class Call(NamedTuple):
    """One `decode(packet)` call of the replay: which VOP it decoded and which it kept for the next call."""

    decoded: VopId | None = None
    refs: tuple[VopId | None, ...] = ()  # the anchors it predicts from (P/S: one, B: two, I: none)
    kept: VopId | None = None


_NO_CALL = Call()  # a call that decodes nothing (shared: one replay step per packet must stay cheap)


def replay(packets: list[Packet], facts: StreamFacts, start: int, stop: int,
           skip_b: set[int] | None = None) -> tuple[list[Call], list[VopId]]:
    """Replay FFmpeg's decoder over packets start..stop (inclusive) from a flushed state, then the end-of-run drain.

    skip_b: positions whose call runs with skip_frame=NONREF (B-VOPs decoded by that call are skipped,
    so nothing is kept from its packet).  Returns the calls (one per packet) and every output, in order.
    """
    low_delay = bool(facts.low_delay)
    packed = facts.packed
    kept: VopId | None = None
    last = nxt = None  # FFmpeg's last_picture / next_picture (anchors)
    calls: list[Call] = []
    outputs: list[VopId] = []
    for pos in range(start, stop + 1):
        pkt = packets[pos]
        if kept is not None and packed and pkt.starts_with_vos:
            kept = None  # "Discarding excessive bitstream in packed xvid"
        if kept is not None and (packed or pkt.size <= MAX_NVOP_SIZE):
            vid, from_kept = kept, True
        elif pkt.vops:
            vid, from_kept = (pos, 0), False
        else:
            kept = None
            calls.append(_NO_CALL)
            continue
        kept = None
        vop = packets[vid[0]].vops[vid[1]]
        kind = vop.type
        if not vop.coded or (kind == "B" and (last is None or (skip_b is not None and pos in skip_b))):
            calls.append(_NO_CALL)
            continue
        if kind == "B":
            refs: tuple[VopId | None, ...] = (last, nxt)
            outputs.append(vid)
        else:
            refs = () if kind == "I" else (nxt,)
            if low_delay:
                outputs.append(vid)
            last, nxt = nxt, vid
            if not low_delay and last is not None:
                outputs.append(last)
        if packed:  # the next start code after the decoded VOP (in this call's packet), if I or B
            following = 0 if from_kept else vid[1] + 1
            if following < len(pkt.vops):
                rest = pkt.size if from_kept else pkt.size - pkt.vops[following].offset
                if rest > KEEP_MIN_BYTES and pkt.vops[following].type in "IB":
                    kept = (pos, following)
        calls.append(_tuple(Call, (vid, refs, kept)))
    if not low_delay and nxt is not None:
        outputs.append(nxt)  # decode(None) at the end of a run returns the last anchor
    return calls, outputs


# --------------------------------------------------------------------------- numbering and planning


@dataclass
class PacketOrder:
    """Frame numbering of an MPEG-4 Part 2 stream by packet order (the replay of a decode from packet 0)."""

    packets: list[Packet]
    facts: StreamFacts
    frames: list[VopId]  # frame i -> the VOP it shows
    frame_of: dict[VopId, int]
    decoded_at: dict[VopId, int]  # VOP -> position of the packet whose decode call decodes it
    refs: dict[VopId, tuple[VopId | None, ...]]  # VOP -> the anchors it predicts from in that decode
    starts: list[int]  # packets whose first VOP is a coded I-VOP (and the VOL is known there): runs begin here

    @property
    def num_frames(self) -> int:
        return len(self.frames)


def number_frames(packets: list[Packet], facts: StreamFacts) -> PacketOrder:
    """Replay the whole stream once: frame i is its i-th output."""
    calls, outputs = replay(packets, facts, 0, len(packets) - 1) if packets else ([], [])
    decoded = [(pos, c) for pos, c in enumerate(calls) if c.decoded is not None]
    starts = [pos for pos, p in enumerate(packets) if p.vops and p.vops[0].type == "I" and p.vops[0].coded
              and (facts.vol_in_extradata or p.has_vol)]
    return PacketOrder(packets, facts, outputs, {v: i for i, v in enumerate(outputs)},
                       {c.decoded: pos for pos, c in decoded}, {c.decoded: c.refs for _, c in decoded},  # type: ignore[misc]  # decoded: not None (filtered)
                       starts)


@dataclass
class PacketRun:
    """Packets start..stop fed from a flushed decoder, then drained; `outputs` is what the decoder must return."""

    start: int
    stop: int
    wanted: dict[VopId, int]  # VOP -> slot of the unique wanted frame list
    skip_b: set[int] = field(default_factory=set)  # positions fed with skip_frame=NONREF
    outputs: list[VopId] = field(default_factory=list)


def _earliest_need(order: PacketOrder, vid: VopId) -> int:
    """Packet position a run must start at or before: the VOP's own (anchor) or its forward reference's (B)."""
    refs = order.refs[vid]
    if len(refs) == 2 and refs[0] is not None:
        return refs[0][0]
    return vid[0]


def _earlier_start(order: PacketOrder, pos: int) -> int:
    """The latest run start at or before packet `pos` (0 when none: a decode from the file's start)."""
    import bisect

    k = bisect.bisect_right(order.starts, pos) - 1
    return order.starts[k] if k >= 0 else 0


def _exact_in_run(order: PacketOrder, calls: list[Call], wanted: dict[VopId, int]) -> bool:
    """Whether the run (its replayed `calls`) decodes every wanted VOP as the full decode does: with the same
    references, after anchors that all predict from the same anchors as there."""
    good: set[VopId] = set()
    chain_ok = True
    for call in calls:
        vid = call.decoded
        if vid is None:
            continue
        same = order.refs.get(vid) == call.refs
        if len(call.refs) < 2:  # an anchor
            chain_ok = chain_ok and same
        if same and chain_ok:
            good.add(vid)
    return all(v in good for v in wanted)


def _skip_plan(order: PacketOrder, run: PacketRun) -> set[int]:
    """Calls that may skip their B-VOP: those decoding no wanted B and keeping nothing a wanted frame needs
    (a packed B-VOP is kept for the next call only when the call before decoded its own VOP in full)."""
    calls, _ = replay(order.packets, order.facts, run.start, run.stop)
    needed = set(run.wanted)
    skip: set[int] = set()
    for offset in range(len(calls) - 1, -1, -1):
        call = calls[offset]
        vid = call.decoded
        if vid is None or order.packets[vid[0]].vops[vid[1]].type != "B":
            continue
        if vid in needed or (call.kept is not None and call.kept in needed):
            needed.add(vid)
        else:
            skip.add(run.start + offset)
    return skip


def _merge(runs: list[PacketRun], start: int, stop: int, vid: VopId, slot: int, restart_cost: int) -> None:
    if runs and start <= runs[-1].stop + restart_cost:
        run = runs[-1]
        run.start, run.stop = min(run.start, start), max(run.stop, stop)
        run.wanted[vid] = slot
        while len(runs) > 1 and runs[-1].start <= runs[-2].stop + restart_cost:
            last = runs.pop()
            runs[-1].stop = max(runs[-1].stop, last.stop)
            runs[-1].start = min(runs[-1].start, last.start)
            runs[-1].wanted.update(last.wanted)
    else:
        runs.append(PacketRun(start, stop, {vid: slot}))


def plan(order: PacketOrder, frames: list[int], restart_cost: int, skip_b: bool) -> list[PacketRun]:
    """Runs that decode the (sorted, unique) `frames` exactly; each run's expected outputs come from the replay.

    A run whose replay would not decode a wanted VOP as the full decode does (a packed stream whose kept VOP
    crosses the run's first packet) starts one run start earlier, down to packet 0 (the full decode itself).
    """
    targets = sorted((order.decoded_at[order.frames[f]], slot, order.frames[f]) for slot, f in enumerate(frames))
    runs: list[PacketRun] = []
    for stop, slot, vid in targets:
        _merge(runs, _earlier_start(order, _earliest_need(order, vid)), stop, vid, slot, restart_cost)
    for run in runs:
        while True:
            run.skip_b = _skip_plan(order, run) if skip_b else set()
            calls, run.outputs = replay(order.packets, order.facts, run.start, run.stop, run.skip_b)
            if _exact_in_run(order, calls, run.wanted) and set(run.wanted) <= set(run.outputs):
                break
            if run.start == 0:  # from the file's start the replay is the full decode: never reached
                raise AssertionError("MPEG-4 packet-order replay cannot decode a wanted frame")
            run.start = _earlier_start(order, run.start - 1)
    return runs
