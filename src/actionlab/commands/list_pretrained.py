"""actionlab list-pretrained [PATTERN]: the pretrained tags, with their source and the accuracy their release reports.

    actionlab list-pretrained              # every tag
    actionlab list-pretrained 'tsm*'       # glob pattern, as actionlab.list_pretrained("tsm*")
    actionlab list-pretrained tsm_r50.k400 --json     # everything a tag carries (URL, hash, preprocessing)

Video tags go to `actionlab predict VIDEO --model TAG`, `actionlab.create_model(TAG)` and
`model.pretrained: TAG_SUFFIX` in configs; ImageNet tags to `pretrained='imagenet'`.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", nargs="?", default="*", help="glob pattern over model.tag names (default: all)")
    p.add_argument("--json", action="store_true", help="print every field of the matching tags as JSON")


def run(args: argparse.Namespace) -> int:
    from ..errors import ModelError
    from ..models.pretrained import get_pretrained, list_pretrained
    from ._common import format_records

    names = list_pretrained(args.pattern)
    if not names:
        raise ModelError(f"no pretrained tag matches '{args.pattern}' (all: {', '.join(list_pretrained())})")
    tags = [get_pretrained(n) for n in names]
    if args.json:
        print(json.dumps([t.to_dict() for t in tags], indent=1))
        return 0
    records = []
    for t in tags:  # one block per tag: a table of these columns is ~450 characters wide
        clip = (f"{t.num_frames}x{t.input_size} {t.sampler}" + (f"/{t.frame_interval}" if t.frame_interval > 1
                                                                else "")) if t.is_video else ""
        sha = (t.sha256 + "..." if t.sha256 else "recorded on 1st download") if t.is_video or t.sha256 else "package"
        head = "  ".join(x for x in (t.name, f"{t.num_classes} {t.labels or 'imagenet'} classes", clip) if x)
        records.append({"head": head, "accuracy": t.accuracy, "source": t.source, "sha256": sha})
    print(format_records(records, ["accuracy", "source", "sha256"]))
    return 0
