"""NTU RGB+D 60 / 120 (Shahroudy et al. 2016; Liu et al. 2019), RGB videos.

    nturgb+d_rgb/SsssCcccPpppRrrrAaaa_rgb.avi   setup, camera, performer, replication, action
There are no list files: videos are found by listing options.videos_dir and split by the
official benchmarks (`options.benchmark`):
    xsub   cross-subject: the 20 (NTU60) / 53 (NTU120) training performers below
    xview  cross-view (NTU60): cameras 2 and 3 train, camera 1 tests
    xset   cross-setup (NTU120): even setup numbers train, odd ones test
`options.version` 60 (default; actions 1-60 of setups 1-17) or 120, or data.format ntu60 /
ntu120.  Val and test both use the test side.  Label = action number - 1.
"""

from __future__ import annotations

import os
import re

from ...config import DataConfig
from ...errors import ConfigError, DataError
from .base import Annotations, LineErrors, VideoRecord, option, reject_lists, resolve

NAME = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
XSUB_TRAIN_60 = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
XSUB_TRAIN_120 = XSUB_TRAIN_60 + (45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83,
                                  84, 85, 86, 89, 91, 92, 93, 94, 95, 97, 98, 100, 103)
XVIEW_TRAIN_CAMERAS = (2, 3)

ACTIONS = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup", "throw", "sitting down",
    "standing up (from sitting position)", "clapping", "reading", "writing", "tear up paper", "wear jacket",
    "take off jacket", "wear a shoe", "take off a shoe", "wear on glasses", "take off glasses", "put on a hat/cap",
    "take off a hat/cap", "cheer up", "hand waving", "kicking something", "reach into pocket",
    "hopping (one foot jumping)", "jump up", "make a phone call/answer phone", "playing with phone/tablet",
    "typing on a keyboard", "pointing to something with finger", "taking a selfie", "check time (from watch)",
    "rub two hands together", "nod head/bow", "shake head", "wipe face", "salute", "put the palms together",
    "cross hands in front (say stop)", "sneeze/cough", "staggering", "falling", "touch head (headache)",
    "touch chest (stomachache/heart pain)", "touch back (backache)", "touch neck (neckache)",
    "nausea or vomiting condition", "use a fan (with hand or paper)/feeling warm", "punching/slapping other person",
    "kicking other person", "pushing other person", "pat on back of other person", "point finger at the other person",
    "hugging other person", "giving something to other person", "touch other person's pocket", "handshaking",
    "walking towards each other", "walking apart from each other",
    "put on headphone", "take off headphone", "shoot at the basket", "bounce ball", "tennis bat swing",
    "juggling table tennis balls", "hush (quite)", "flick hair", "thumb up", "thumb down", "make ok sign",
    "make victory sign", "staple book", "counting money", "cutting nails", "cutting paper (using scissors)",
    "snapping fingers", "open bottle", "sniff (smell)", "squat down", "toss a coin", "fold paper", "ball up paper",
    "play magic cube", "apply cream on face", "apply cream on hand back", "put on bag", "take off bag",
    "put something into a bag", "take something out of a bag", "open a box", "move heavy objects", "shake fist",
    "throw up cap/hat", "hands up (both hands)", "cross arms", "arm circles", "arm swings", "running on the spot",
    "butt kicks (kick backward)", "cross toe touch", "side kick", "yawn", "stretch oneself", "blow nose",
    "hit other person with something", "wield knife towards other person",
    "knock over other person (hit with body)", "grab other person's stuff", "shoot at other person with a gun",
    "step on foot", "high-five", "cheers and drink", "carry something with other person",
    "take a photo of other person", "follow other person", "whisper in other person's ear",
    "exchange things with other person", "support somebody with hand",
    "finger-guessing game (playing rock-paper-scissors)",
)


def is_train(setup: int, camera: int, performer: int, benchmark: str, version: int) -> bool:
    if benchmark == "xsub":
        return performer in (XSUB_TRAIN_60 if version == 60 else XSUB_TRAIN_120)
    if benchmark == "xview":
        return camera in XVIEW_TRAIN_CAMERAS
    return setup % 2 == 0  # xset


def load(cfg: DataConfig, split: str, errors: LineErrors, version: int | None = None) -> Annotations:
    reject_lists(cfg, "ntu", "videos are listed from options.videos_dir and split by options.benchmark")
    version = int(version or option(cfg, "version", 60))
    if version not in (60, 120):
        raise ConfigError(f"config key 'data.options.version' for ntu must be 60 or 120, got {version}")
    benchmark = option(cfg, "benchmark", "xsub")
    valid = ("xsub", "xview") if version == 60 else ("xsub", "xset")
    if benchmark not in valid:
        raise ConfigError(f"config key 'data.options.benchmark' for NTU RGB+D {version} must be one of "
                          f"{', '.join(valid)}, got {benchmark!r}")
    folder = resolve(cfg, option(cfg, "videos_dir", "nturgb+d_rgb"))
    ext = option(cfg, "ext", "_rgb.avi")
    if not folder.is_dir():
        raise DataError(f"video directory not found: {folder} (data.options.videos_dir)")
    names = list(ACTIONS[:version])
    records = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(ext):
            continue
        m = NAME.match(name)
        if not m:
            errors(folder / name, None, "file name does not follow SsssCcccPpppRrrrAaaa")
            continue
        setup, camera, performer, _, action = (int(g) for g in m.groups())
        if action < 1 or action > version or (version == 60 and setup > 17):
            continue  # NTU120-only videos in a NTU60 run
        if is_train(setup, camera, performer, benchmark, version) == (split == "train"):
            records.append(VideoRecord(str(folder / name), action - 1, name[: -len(ext)], str(folder / name)))
    return Annotations(records, names)
