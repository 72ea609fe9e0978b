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


def parse_vol(data: bytes, at: int, facts: StreamFacts) -> None:
    """video_object_layer header (ISO/IEC 14496-2 6.2.3) from the byte after its start code."""
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


def parse_user_data(data: bytes, at: int, facts: StreamFacts) -> None:
    """FFmpeg's decoder sets its packed-bitstream mode from user data "DivX<ver>b<build>p" (or Build)."""
    text = data[at: at + 255].split(b"\x00\x00", 1)[0]
    m = _DIVX.match(text)
    if m:
        facts.packed = m.group(3) == b"p"


def parse_headers(data: bytes, facts: StreamFacts) -> bool:
    """VOL and user-data headers in `data` before its first VOP (extradata, or a keyframe packet that
    repeats them); True when a VOL header was among them."""
    vol = False
    i = data.find(START)
    while 0 <= i < len(data) - 4:
        code = data[i + 3]
        if 0x20 <= code <= 0x2F:
            parse_vol(data, i + 4, facts)
            vol = True
        elif code == USER_DATA_CODE:
            parse_user_data(data, i + 4, facts)
        elif code == 0xB6:
            break
        i = data.find(START, i + 3)
    return vol


def vop_header(data: bytes, at: int, facts: StreamFacts) -> Vop | None:
    """The VOP whose start code is at byte `at`: vop_coding_type, vop_coded (None if the header does not parse).

    Read from one 64-bit window (this runs for every packet of every scan): coding type (2 bits),
    modulo_time_base (ones ended by a zero), marker, vop_time_increment, marker, vop_coded."""
    chunk = data[at + 4: at + 12]
    avail = 8 * len(chunk)
    word = int.from_bytes(chunk, "big") << (64 - avail)
    pos = 2
    while pos < avail and (word >> (63 - pos)) & 1:  # modulo_time_base
        pos += 1
    pos += 1
    last = pos + facts.time_increment_bits + 2  # marker, increment, marker, then vop_coded
    if last >= avail:
        return None
    if not (word >> (63 - pos)) & 1 or not (word >> (63 - last + 1)) & 1:  # a marker is 0: wrong width
        return None
    return Vop(TYPES[word >> 62], bool((word >> (63 - last)) & 1), at)


def packet_vops(data: bytes, facts: StreamFacts) -> tuple[Vop, ...]:
    """Every VOP in one packet, in bitstream order; headers in the packet update `facts` first."""
    vops: list[Vop] = []
    i = data.find(VOP_START)
    while i >= 0:
        vop = vop_header(data, i, facts)
        if vop is None:
            facts.note(f"a VOP header that does not parse with {facts.time_increment_bits} time-increment bits")
            return tuple(vops)
        vops.append(vop)
        if vop.type == "B":
            facts.has_b = True
        i = data.find(VOP_START, i + 4)
    return tuple(vops)


class Packet(NamedTuple):
    """What the replay needs of one packet: its VOPs, its size, whether it starts with a VOS header."""

    vops: tuple[Vop, ...]
    size: int
    starts_with_vos: bool
    has_vol: bool = False


def describe_packet(data: bytes, facts: StreamFacts) -> Packet:
    if len(data) < 16 and data.startswith(VOP_START) and data.find(START, 4) < 0:  # one small VOP: mostly
        vop = vop_header(data, 0, facts)  # the N-VOP placeholders, half the packets of a packed AVI
        if vop is None:
            facts.note(f"a VOP header that does not parse with {facts.time_increment_bits} time-increment bits")
            return Packet((), len(data), False)
        facts.has_b = facts.has_b or vop.type == "B"
        return Packet((vop,), len(data), False)
    first = data.find(START)
    if first < 0:
        return Packet((), len(data), False)
    vos = first + 3 < len(data) and data[first + 3] == VOS_CODE
    vol = data.find(VOP_START) != first and parse_headers(data, facts)  # headers before the first VOP
    return Packet(packet_vops(data, facts), len(data), vos, vol)


# --------------------------------------------------------------------------- the replay

VopId = tuple[int, int]  # (packet position, index of the VOP in the packet)


@dataclass
class Call:
    """One `decode(packet)` call of the replay: which VOP it decoded and which it kept for the next call."""

    decoded: VopId | None = None
    refs: tuple[VopId | None, ...] = ()  # the anchors it predicts from (P/S: one, B: two, I: none)
    kept: VopId | None = None
    outputs: list[VopId] = field(default_factory=list)


def replay(packets: list[Packet], facts: StreamFacts, start: int, stop: int,
           skip_b: set[int] | None = None) -> tuple[list[Call], list[VopId]]:
    """Replay FFmpeg's decoder over packets start..stop (inclusive) from a flushed state, then the end-of-run drain.

    skip_b: positions whose call runs with skip_frame=NONREF (B-VOPs decoded by that call are skipped,
    so nothing is kept from its packet).  Returns the calls (one per packet) and every output, in order.
    """
    low_delay = bool(facts.low_delay)
    kept: VopId | None = None
    last = nxt = None  # FFmpeg's last_picture / next_picture (anchors)
    calls: list[Call] = []
    outputs: list[VopId] = []
    for pos in range(start, stop + 1):
        pkt = packets[pos]
        call = Call()
        calls.append(call)
        if kept is not None and facts.packed and pkt.starts_with_vos:
            kept = None  # "Discarding excessive bitstream in packed xvid"
        if kept is not None and (facts.packed or pkt.size <= MAX_NVOP_SIZE):
            vid, search_from = kept, 0
        elif pkt.vops:
            vid, search_from = (pos, 0), None
        else:
            kept = None
            continue
        kept = None
        vop = packets[vid[0]].vops[vid[1]]
        if not vop.coded:
            continue
        if vop.type == "B" and (last is None or (skip_b is not None and pos in skip_b)):
            continue
        call.decoded = vid
        call.refs = () if vop.type == "I" else (last, nxt) if vop.type == "B" else (nxt,)
        if vop.type == "B" or low_delay:
            call.outputs.append(vid)
        if vop.type != "B":
            last, nxt = nxt, vid
            if not low_delay and last is not None:
                call.outputs.append(last)
        outputs.extend(call.outputs)
        if facts.packed:  # the next start code after the decoded VOP (in this call's packet), if I or B
            if search_from is None:
                following = [j for j in range(vid[1] + 1, len(pkt.vops))]
                rest = pkt.size - pkt.vops[vid[1] + 1].offset if following else 0
            else:
                following = list(range(len(pkt.vops)))
                rest = pkt.size
            if following and rest > KEEP_MIN_BYTES and pkt.vops[following[0]].type in "IB":
                kept = (pos, following[0])
                call.kept = kept
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
