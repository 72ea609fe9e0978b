"""A first scan describes an MPEG-4 Part 2 stream in one pass (`mpeg4.describe_packets`): it does not parse a
header block again when a keyframe repeats the last one, nor a small packet (N-VOP) it has seen under the same
VOL.  The reference is the packet-by-packet parse (`describe_packet`, every header parsed where it appears):
on a stream whose VOL changes mid-stream (two Xvid encodes spliced, time-increment widths 5 and 6 bits) both
must give the same VOPs and the same stream facts, else frames would be numbered wrong.
"""

from __future__ import annotations

import av
import pytest

from actionlab.data import mpeg4
from tests._data_helpers import frame_images, workdir
from tests._video_corpus import write_xvid, xvid_available


def _payloads(path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(video=0) if p.size]


def _decoded(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _described_alone(stream: list[bytes]) -> tuple[list[mpeg4.Packet], mpeg4.StreamFacts]:
    facts = mpeg4.StreamFacts()
    return [mpeg4.describe_packet(data, facts) for data in stream], facts


def test_a_stream_whose_vol_changes_is_described_as_packet_by_packet():
    if not xvid_available():
        pytest.skip("the ffmpeg command-line tool with libxvid is not installed")
    images = frame_images(24)
    files = [write_xvid(workdir() / f"at{fps}.avi", images, {"bf": "1", "g": "6", "threads": "1"}, fps=fps)
             for fps in (25, 60)]
    at_25, at_60 = (_payloads(f) for f in files)
    stream = at_25 + at_60 + at_25 + at_60
    want, want_facts = _described_alone(stream)
    facts = mpeg4.StreamFacts()
    assert mpeg4.describe_packets(stream, facts) == want and facts == want_facts
    assert want_facts.unsupported is None and want_facts.packed and want_facts.time_increment_bits == 6
    assert sum(p.has_vol for p in want) >= 4 * 2  # the VOL, repeated at every keyframe
    for part, file in zip((at_25, at_60), files):  # each encode alone is numbered as a sequential decode yields
        assert mpeg4.number_frames(*_described_alone(part)).num_frames == _decoded(file)

    # any bytes: N-VOPs of the 25 fps encode, seen before, read differently after the 6-bit VOL
    nvops = [data for data in at_25 if len(data) <= mpeg4.SMALL_PACKET]
    assert len(nvops) >= 8
    want, want_facts = _described_alone(stream + nvops)
    at_5_bits = [p for data, p in zip(at_25, _described_alone(at_25)[0]) if len(data) <= mpeg4.SMALL_PACKET]
    assert want[-len(nvops):] != at_5_bits  # (so a description kept from before would be caught)
    facts = mpeg4.StreamFacts()
    assert mpeg4.describe_packets(stream + nvops, facts) == want and facts == want_facts
