"""Text side of ART: prompt templates, text encoders and the cached semantic bank."""

from .bank import SemanticBank, build_semantic_bank, default_cache_dir, random_bank, read_class_names
from .encoders import (
    CLIPTextEncoder,
    SentenceTransformerEncoder,
    TextEncoder,
    build_text_encoder,
    encoder_identity,
    minilm_directory,
)
from .prompts import ACTIONCLIP_TEMPLATES, ART_TEMPLATES, TEMPLATE_SETS, expand_prompts, resolve_templates

__all__ = [
    "ACTIONCLIP_TEMPLATES", "ART_TEMPLATES", "CLIPTextEncoder", "SemanticBank", "SentenceTransformerEncoder",
    "TEMPLATE_SETS", "TextEncoder", "build_semantic_bank", "build_text_encoder", "default_cache_dir",
    "encoder_identity", "expand_prompts", "minilm_directory", "random_bank", "read_class_names", "resolve_templates",
]
