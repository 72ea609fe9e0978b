"""Prompt templates that turn a class name into sentences for the text encoder.

ART (paper Sec. III-E.1) builds its text-constrained semantic bank S0
[N_prompts, N_classes, C_t] from "action phrases" such as "This is a video about
{label}"; ActionCLIP's 16 hand-written templates are the usual larger set.
A template holds one `{}` where the class name goes.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...errors import ConfigError

# The two phrases the ART paper prints (Sec. III-E.1).
ART_TEMPLATES: tuple[str, ...] = (
    "This is a video about {}",
    "The person is doing {}",
)

# ActionCLIP's 16 templates (Wang et al., "ActionCLIP", text prompt set).
ACTIONCLIP_TEMPLATES: tuple[str, ...] = (
    "a photo of action {}",
    "a picture of action {}",
    "Human action of {}",
    "{}, an action",
    "{} this is an action",
    "{}, a video of action",
    "Playing action of {}",
    "{}",
    "Playing a kind of action, {}",
    "Doing a kind of action, {}",
    "Look, the human is {}",
    "Can you recognize the action of {}?",
    "Video classification of {}",
    "A video of {}",
    "The man is {}",
    "The woman is {}",
)

TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "art": ART_TEMPLATES,
    "actionclip": ACTIONCLIP_TEMPLATES,
    "all": ART_TEMPLATES + ACTIONCLIP_TEMPLATES,
}


def resolve_templates(templates: str | Sequence[str]) -> list[str]:
    """A named set ('art', 'actionclip', 'all') or an explicit list of templates, each with one `{}`."""
    if isinstance(templates, str):
        if templates not in TEMPLATE_SETS:
            raise ConfigError(f"unknown prompt template set '{templates}', expected one of {sorted(TEMPLATE_SETS)} "
                              "or a list of templates with one '{{}}'")
        return list(TEMPLATE_SETS[templates])
    out = list(templates)
    if not out:
        raise ConfigError("model.kwargs.templates: the list of prompt templates is empty")
    for t in out:
        if not isinstance(t, str) or t.count("{}") != 1:
            raise ConfigError(f"model.kwargs.templates: template {t!r} must be a string with exactly one '{{}}'")
    return out


def clean_class_name(name: str) -> str:
    """'salto_backward_tucked' -> 'salto backward tucked': dataset class ids read better as phrases."""
    return " ".join(name.replace("_", " ").split())


def expand_prompts(class_names: Sequence[str], templates: Sequence[str]) -> list[list[str]]:
    """Sentences [N_prompts][N_classes] in the layout of the bank S0."""
    names = [clean_class_name(c) for c in class_names]
    return [[t.format(c) for c in names] for t in templates]
