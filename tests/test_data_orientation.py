"""Display matrices (rotation and mirroring) are applied as the `ffmpeg` tool shows the video.

Each case is a small PNG-in-MOV file (RGB stored losslessly, so the two decodes agree bit for bit) whose
display matrix is a turn of 0/90/180/270 degrees with or without a horizontal and a vertical flip (built as
FFmpeg's av_display_rotation_set + av_display_matrix_flip do).  The reference is `ffmpeg -i FILE -f rawvideo
-pix_fmt rgb24` (its autorotate on): reads, video_info's size and the timeline's frames must equal it.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from actionlab.data.readers import PyAVReader, read, video_info
from tests._data_helpers import frame_images, workdir, write_video

CASES = [(angle, h, v) for angle in (0, 90, 180, 270) for h in (0, 1) for v in (0, 1)]


def display_matrix(angle: int, hflip: int, vflip: int) -> list[int]:
    r = math.radians(angle)
    m = [0] * 9
    m[0], m[1], m[3], m[4], m[8] = (round(math.cos(r) * 65536), round(-math.sin(r) * 65536),
                                    round(math.sin(r) * 65536), round(math.cos(r) * 65536), 1 << 30)
    return [-x if (i % 3 == 0 and hflip) or (i % 3 == 1 and vflip) else x for i, x in enumerate(m)]


def mirrored_video(angle: int, hflip: int, vflip: int) -> Path:
    path = workdir() / "orientation" / f"m{angle}_{hflip}{vflip}.mov"
    if path.exists():
        return path
    matrix = display_matrix(angle, hflip, vflip)
    return write_video(path, frame_images(3, 64, 48), "png", "rgb24", display_matrix=matrix)


def ffmpeg_first_frame(path: Path) -> bytes:
    if shutil.which("ffmpeg") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the ffmpeg command-line tool is missing (apt-get install ffmpeg)")
        pytest.skip("the ffmpeg command-line tool is missing")
    return subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(path), "-frames:v", "1",
                           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout


@pytest.mark.parametrize("angle,hflip,vflip", CASES)
def test_reads_and_video_info_match_the_ffmpeg_tool(angle, hflip, vflip):
    path = mirrored_video(angle, hflip, vflip)
    reference = ffmpeg_first_frame(path)
    ours = read(path, [0])[0].numpy()
    assert ours.nbytes == len(reference)
    assert np.array_equal(ours, np.frombuffer(reference, np.uint8).reshape(ours.shape))
    info = video_info(path)
    assert (info.height, info.width) == ours.shape[:2] == ((64, 48) if angle in (90, 270) else (48, 64))
    stored = read(path, [0], autorotate=False)[0]
    assert stored.shape == (48, 64, 3)  # data.autorotate: false keeps the stored frame


def test_mirroring_is_not_a_half_turn():
    """A horizontal flip mirrors left and right (the old reader turned it by 180 degrees); a vertical one
    mirrors top and bottom (the old reader ignored it)."""
    stored = read(mirrored_video(0, 0, 0), [0])[0]
    assert torch.equal(read(mirrored_video(0, 1, 0), [0])[0], stored.flip(1))
    assert torch.equal(read(mirrored_video(0, 0, 1), [0])[0], stored.flip(0))
    with PyAVReader(mirrored_video(90, 1, 0)) as video:
        assert video.orientation == "clock_flip" and (video.width, video.height) == (48, 64)


def test_timeline_frames_are_mirrored_like_reads():
    from actionlab.timeline import _rgb, iter_frames

    for case in [(0, 1, 0), (0, 0, 1), (270, 1, 0)]:
        path = mirrored_video(*case)
        first = next(iter(iter_frames(path)))
        assert torch.equal(_rgb(first), read(path, [0])[0]), case
