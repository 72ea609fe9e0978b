"""Every read is the frame a full sequential decode yields, whatever the process read before.

The reference is PyAV's plain decode loop (`read_all_sequential`).  The files: the generated corpus
(`_video_corpus.CORPUS`: one per container path of the reader, including DivX-packed and unpacked
Xvid AVI, whose guessed timestamps name the wrong frame).  Single frames are read in a fresh process
(no scan cached) and, in one process, interleaved with clips, dense runs and other files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from actionlab.data.readers import PyAVReader, read, read_all_sequential
from actionlab.data.sampling import SegmentSampler
from actionlab.data.video_index import INDEX_CACHE
from tests._video_corpus import CORPUS, corpus_file, xvid_available


def _available() -> list[str]:
    names = [n for n in CORPUS if not CORPUS[n].cli or xvid_available()]
    if len(names) < len(CORPUS) and os.environ.get("CI") == "true":
        raise AssertionError("the ffmpeg command-line tool with libxvid is missing (apt-get install ffmpeg)")
    return names


_CHILD = """
import json, sys
import torch
from actionlab.data.readers import read, read_all_sequential
from actionlab.data.video_index import INDEX_CACHE
wrong = {}
for path, frames in json.loads(sys.argv[1]).items():
    full = read_all_sequential(path)
    for f in frames:
        INDEX_CACHE.clear()  # each read is the first of the process on this file
        if not torch.equal(read(path, [f])[0], full[f]):
            wrong.setdefault(path, []).append(f)
print(json.dumps(wrong))
"""


def test_single_frames_in_a_fresh_process():
    """Every frame of the AVI files (and every third of the others), each read alone with nothing cached."""
    jobs = {}
    for name in _available():
        n = CORPUS[name].decoded
        step = 1 if "avi" in CORPUS[name].file else 3
        jobs[str(corpus_file(name))] = list(range(0, n, step)) + [n - 1]
    src = Path(__import__("actionlab").__file__).parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(jobs)], capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    wrong = json.loads(out.stdout.strip().splitlines()[-1])
    assert wrong == {}, {Path(p).name: f for p, f in wrong.items()}


def test_reads_stay_exact_after_any_earlier_reads():
    """One process, one scan cache: TSN clips, dense runs and single frames of several files in a random
    order; each read equals the sequential decode (the answer does not depend on what came before)."""
    names = [n for n in _available() if CORPUS[n].path != "keyframe runs" or "avi" in CORPUS[n].file]
    full = {n: read_all_sequential(corpus_file(n)) for n in names}
    rng = np.random.default_rng(22)
    sampler = SegmentSampler(8)
    INDEX_CACHE.clear()
    for step in range(160):
        name = names[int(rng.integers(len(names)))]
        n = len(full[name])
        kind = 2 if step < 60 else step % 4  # single frames first (no clip has touched the file), then mixed
        if kind == 0:
            idx = sampler(n, rng, True).reshape(-1)
        elif kind == 1:
            start = int(rng.integers(0, n - 4))
            idx = np.arange(start, start + 4)
        else:
            idx = np.array([int(rng.integers(n))])
        got = read(corpus_file(name), idx)
        assert torch.equal(got, full[name][torch.from_numpy(idx)]), (name, idx.tolist())


def test_packed_avi_reads_are_faster_than_decoding_from_the_start():
    """The packet-order path starts at coded I-VOPs: a frame late in a GOP-12 file decodes from its GOP's
    I-VOP, not from packet 0 (checked on the plan, not by timing)."""
    if not xvid_available():
        return
    path = corpus_file("avi_xvid_packed_bf1")
    with PyAVReader(path, cache=None) as video:
        assert video.read_path == "packet order"
        order = video._index.packet_order
        assert order.starts[:4] == [0, 11, 23, 35]  # one coded I-VOP every 12 frames; N-VOPs flagged key are not
        from actionlab.data import mpeg4

        runs = mpeg4.plan(order, [40], 2, skip_b=True)
        assert len(runs) == 1 and runs[0].start == 35 and runs[0].stop <= 42


def _read_in_child(path: str, queue) -> None:
    queue.put(read(path, [3]).numpy())


def test_reads_work_in_a_forked_worker():
    """A DataLoader worker forked after the parent converted frames reads too (no swscale thread pool or
    lock is inherited half-held)."""
    import multiprocessing

    path = str(corpus_file("mp4_h264_vfr"))
    expected = read(path, [3]).numpy()  # the parent converts a frame first
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_read_in_child, args=(path, queue))
    child.start()
    try:
        got = queue.get(timeout=120)
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
    assert np.array_equal(got, expected)
