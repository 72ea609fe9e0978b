"""The import arrows run one way: models below engine, no two modules importing each other."""

import ast
from pathlib import Path

import torch.nn as nn

import actionlab
from actionlab.models.backbones.common import init_conv_bn, shortcut

SRC = Path(actionlab.__file__).parent


def _imports(path: Path) -> set[str]:
    """Absolute dotted names of the actionlab modules `path` imports (relative imports resolved)."""
    package = ["actionlab", *path.relative_to(SRC).with_suffix("").parts[:-1]]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            out.add(name)
            out.update(f"{name}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {n for n in out if n.startswith("actionlab")}


def test_models_do_not_import_the_engine():
    offenders = {str(p.relative_to(SRC)): sorted(n for n in _imports(p) if n.startswith("actionlab.engine"))
                 for p in (SRC / "models").rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_two_modules_import_each_other():
    modules = {".".join(["actionlab", *p.relative_to(SRC).with_suffix("").parts]): p for p in SRC.rglob("*.py")}
    graph = {m: {n for n in _imports(p) if n in modules and n != m} for m, p in modules.items()}
    cycles = sorted((a, b) for a, deps in graph.items() for b in deps if a < b and a in graph.get(b, set()))
    assert cycles == []  # a lazy import inside a function counts too


def test_shared_backbone_pieces():
    assert shortcut(64, 64, 1) is None
    proj = shortcut(64, 256, 1)
    assert isinstance(proj[0], nn.Conv2d) and proj[0].kernel_size == (1, 1) and proj[0].bias is None
    assert shortcut(64, 128, 2)[0].stride == (2, 2) and list(dict(shortcut(8, 16, 2).named_children())) == ["0", "1"]
    net = nn.Sequential(nn.Conv2d(16, 256, 3), nn.BatchNorm2d(256), nn.Linear(256, 512))
    nn.init.constant_(net[1].weight, 3.0)
    init_conv_bn(net, linear_std=0.01)
    assert net[1].weight.eq(1).all() and net[1].bias.eq(0).all()
    fan_out_std = (2 / (256 * 9)) ** 0.5  # He init, fan-out mode
    assert abs(float(net[0].weight.detach().std()) / fan_out_std - 1) < 0.05
    assert abs(float(net[2].weight.detach().std()) / 0.01 - 1) < 0.05 and net[2].bias.eq(0).all()
