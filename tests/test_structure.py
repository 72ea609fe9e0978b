"""The import arrows run one way, without cycles; no function is longer than a screenful or two.

Layers, lowest first (GUIDE: formats -> sampler -> reader -> transforms -> model -> engine -> commands):
a module may import its own layer and the layers below it, never one above.  An import inside a function
counts like one at the top of the module, and importing `a.b.c` also runs the package `a.b`'s __init__
(unless the importer is inside `a.b` already), so that counts as importing `a.b` too.  Imports under
`if TYPE_CHECKING:` never run (annotations only) and do not count.
"""

import ast
import re
from pathlib import Path

import torch.nn as nn

import actionlab
from actionlab.models.backbones.common import init_conv_bn, shortcut

SRC = Path(actionlab.__file__).parent
MAX_FUNCTION_LINES = 120

# (layer, modules and packages); a module belongs to the layer of its longest matching entry (itself, or a package
# above it), or of its exact name in EXACT (a package's __init__ that imports more than its package's layer says).
# A module matching no entry fails `test_every_module_has_a_layer`: a new top-level module or a new module of
# data/ (whose modules sit in four layers) is placed here by name, none falls into a layer by default.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("actionlab.errors", "actionlab.config", "actionlab.labels", "actionlab.metrics", "actionlab.fidelity",
              "actionlab.localisation", "actionlab.eval_metrics", "actionlab.strategy", "actionlab.video_inputs",
              "actionlab.norms", "actionlab.paths", "actionlab.threads")),  # threads: environment only
    ("formats", ("actionlab.data.formats",)),
    ("sampler", ("actionlab.data.sampling", "actionlab.data.release_sampling")),
    # readers, the scan index, the frame cache, the video writer, the generator
    ("reader", ("actionlab.data.readers", "actionlab.data.open_errors", "actionlab.data.display",
                "actionlab.data.video_index", "actionlab.data.mpeg4", "actionlab.data.scan_store",
                "actionlab.data.verify", "actionlab.data.cache", "actionlab.data.video_writer",
                "actionlab.data.synthetic")),
    ("transforms", ("actionlab.data.transforms", "actionlab.data.release_resize")),
    ("dataset", ("actionlab.data.dataset", "actionlab.data.check")),
    ("model", ("actionlab.models", "actionlab.recipes", "actionlab.profile")),
    ("engine", ("actionlab.engine",)),
    # the Python API (the package itself re-exports load, create_model, ...) and what the commands print
    ("application", ("actionlab.api", "actionlab.batch_predict", "actionlab.timeline", "actionlab.annotate",
                     "actionlab.explain", "actionlab.export", "actionlab.report", "actionlab.readme_claims")),
    ("commands", ("actionlab.commands", "actionlab.bench", "actionlab.cli")),  # bench: `actionlab bench`
]
# the package itself re-exports the Python API; the data package's __init__ re-exports build_dataset
EXACT = {"actionlab": "application", "actionlab.data": "dataset"}

# what the engine may know of the models: the contract and the registry, no method
ENGINE_SEES_OF_MODELS = {"actionlab.models", "actionlab.models.registry", "actionlab.models.recognizer"}


def _module_name(path: Path, src: Path = SRC) -> str:
    parts = ["actionlab", *path.relative_to(src).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(src: Path = SRC) -> dict[str, Path]:
    return {_module_name(p, src): p for p in src.rglob("*.py")}


def imports(path: Path, modules: dict[str, Path], src: Path = SRC) -> set[str]:
    """The actionlab modules (of `modules`) that importing `path` runs: every import statement, anywhere in
    the file, relative ones resolved; `from p import x` is module p.x when there is one, else p itself; and
    the packages above an imported module that `path` is not inside (Python runs their __init__ first)."""
    me = _module_name(path, src)
    package = me.split(".") if path.name == "__init__.py" else me.split(".")[:-1]
    targets: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                targets.add(f"{name}.{alias.name}" if f"{name}.{alias.name}" in modules else name)
        elif isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
    out = {t for t in targets if t in modules and t != me}
    for target in targets:
        parts = target.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix in modules and not (me + ".").startswith(prefix + "."):
                out.add(prefix)
    return out


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node that can run: all of them but the bodies of `if TYPE_CHECKING:` (annotations only)."""
    out: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return out


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    modules = _modules(src)
    return {m: imports(p, modules, src) for m, p in modules.items()}


def layer_of(module: str) -> int:
    names = [name for name, _ in LAYERS]
    if module in EXACT:
        return names.index(EXACT[module])
    best, best_len = -1, -1
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = rank, len(prefix)
    return best


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} ({LAYERS[layer_of(m)][0]}) imports {n} ({LAYERS[layer_of(n)][0]})"
                  for m, deps in graph.items() for n in deps if layer_of(n) > layer_of(m))


def long_functions(src: Path = SRC, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    out = []
    for path in sorted(src.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    out.append(f"{path.relative_to(src)}:{node.lineno} {node.name} ({lines} lines)")
    return out


# --------------------------------------------------------------------------- the rules, on the package


def test_every_module_has_a_layer():
    unlisted = [m for m in sorted(_modules()) if layer_of(m) < 0]
    assert unlisted == [], f"modules in no layer of LAYERS (place them by name): {', '.join(unlisted)}"


def test_no_module_imports_a_higher_layer():
    assert upward_imports(import_graph()) == []


def test_no_import_cycle_of_any_length():
    assert cycles(import_graph()) == []


def test_the_engine_knows_no_method():
    graph = import_graph()
    offenders = {m: sorted(n for n in deps if n.startswith("actionlab.models") and n not in ENGINE_SEES_OF_MODELS)
                 for m, deps in graph.items() if m.startswith("actionlab.engine")}
    assert {m: v for m, v in offenders.items() if v} == {}


def test_models_do_not_import_the_engine():
    graph = import_graph()
    offenders = {m: sorted(n for n in deps if n.startswith("actionlab.engine"))
                 for m, deps in graph.items() if m.startswith("actionlab.models")}
    assert {m: v for m, v in offenders.items() if v} == {}


def test_no_function_is_longer_than_the_limit():
    assert long_functions() == []


# --------------------------------------------------------------------------- the checks catch what they name


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "actionlab"
    for name, text in {"__init__.py": "", **files}.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    return src


def test_a_three_module_cycle_through_a_lazy_import_and_a_package_init_is_found(tmp_path):
    src = _tree(tmp_path, {
        "api.py": "from .engine import build\n",
        "engine/__init__.py": "", "engine/build.py": "def f():\n    from ..explain import tracklets\n",
        "explain/__init__.py": "from .common import render\n", "explain/tracklets.py": "",
        "explain/common.py": "def g():\n    from ..api import load\n",
    })
    found = cycles(import_graph(src))
    assert found == [["actionlab.api", "actionlab.engine.build", "actionlab.explain", "actionlab.explain.common"]]


def test_an_upward_import_inside_a_function_is_found(tmp_path):
    src = _tree(tmp_path, {"data/__init__.py": "", "data/sampling.py": "def f():\n    from ..engine import x\n",
                           "engine/__init__.py": "", "engine/x.py": ""})
    assert upward_imports(import_graph(src)) == [
        "actionlab.data.sampling (sampler) imports actionlab.engine (engine)",
        "actionlab.data.sampling (sampler) imports actionlab.engine.x (engine)"]


def test_a_module_listed_nowhere_has_no_layer():
    """No default layer: a new top-level module, or a new module of data/, is placed by name."""
    assert layer_of("actionlab.newly_added") == -1 and layer_of("actionlab.data.newly_added") == -1
    assert LAYERS[layer_of("actionlab.explain.newly_added")][0] == "application"  # a package's modules share its layer
    assert LAYERS[layer_of("actionlab")][0] == "application" and LAYERS[layer_of("actionlab.data")][0] == "dataset"


def test_a_long_function_is_found(tmp_path):
    src = _tree(tmp_path, {"m.py": "def f():\n" + "    x = 1\n" * 120})
    assert long_functions(src) == ["m.py:1 f (121 lines)"]


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


def test_explanation_kinds_are_listed_and_each_has_its_module():
    from actionlab.explain.common import KINDS

    modules = {p.stem for p in (SRC / "explain").glob("*.py")} - {"__init__", "common"}
    assert set(KINDS) == modules
    for kind in KINDS:
        assert "def render(" in (SRC / "explain" / f"{kind}.py").read_text(), kind


def test_models_and_strategies_are_registered_by_the_listed_modules_under_literal_names():
    """Every module that registers a model, a tag or a strategy is in MODEL_MODULES; no name is built at run time."""
    from actionlab.models.catalog import MODEL_MODULES

    registering = {str(p.relative_to(SRC / "models").with_suffix("")).replace("/", ".")
                   for p in (SRC / "models").rglob("*.py")
                   if p.name not in ("registry.py", "pretrained.py")
                   and re.search(r"register_(model|strategy|tags)\(", p.read_text())}
    assert registering == set(MODEL_MODULES)
    for name in MODEL_MODULES:
        text = (SRC / "models" / f"{name.replace('.', '/')}.py").read_text()
        assert not re.search(r"_register\(f\"|register_model\([^)]*name=f\"", text), name  # greppable names
    assert not (SRC / "engine" / "strategies.py").exists()  # no re-export shim beside actionlab/strategy.py


def _tag_tables(text: str) -> dict[str, str]:
    """model -> the text of its `register_tags(...)` call (up to the closing parenthesis at line start)."""
    return {m.group(2): m.group(0) for m in re.finditer(r'register_tags\(\s*(#[^\n]*)?\s*"(\w+)",.*?\n\)', text, re.S)}


def test_video_tags_are_tables_next_to_their_models():
    from actionlab.models.pretrained import get_pretrained, list_pretrained

    video = [get_pretrained(n) for n in list_pretrained() if get_pretrained(n).is_video]
    assert len(video) >= 6
    for tag in video:  # the module that defines the model holds its tag table (keyword = tag)
        homes = [p for p in (SRC / "models").rglob("*.py") if p.name != "pretrained.py"  # (its docstring's example)
                 and re.search(rf"\b{tag.tag}=", _tag_tables(p.read_text()).get(tag.model, ""))]
        assert len(homes) == 1, tag.name
