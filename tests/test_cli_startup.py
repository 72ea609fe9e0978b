"""The CLI starts without torch: `actionlab --help` and every `actionlab CMD --help` (torch costs seconds of CPU)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import actionlab

SRC = str(Path(actionlab.__file__).resolve().parent.parent)  # the package under test, in the subprocesses too

HELP_LINES = [["--help"], ["--version"], [], ["bench", "tfe", "sweep", "--help"], ["data", "synth", "--help"],
              ["data", "check", "--help"]]


def _heavy_modules_after(code: str) -> list[str]:
    """Run `code` in a fresh interpreter; the heavy modules (torch, numpy, av, matplotlib) it imported."""
    script = code + (
        "\nimport json, sys\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'av', 'matplotlib'))))"
    )
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_help_of_every_command_and_the_full_parser_import_no_torch():
    from actionlab.cli import COMMANDS
    from actionlab.commands.bench import BENCHMARKS

    argvs = HELP_LINES + [[c, "--help"] for c in COMMANDS] + [["bench", b, "--help"] for b in BENCHMARKS]
    code = (
        "import contextlib, io\n"
        "from actionlab.cli import build_parser, main\n"
        "build_parser()\n"  # every command's options, as the tests and the README check use it
        f"for argv in {argvs!r}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "        try:\n"
        "            main(argv)\n"
        "        except SystemExit:\n"
        "            pass\n"
    )
    assert _heavy_modules_after(code) == []


def test_import_actionlab_is_lazy_and_its_names_still_work():
    assert _heavy_modules_after("import actionlab\nassert 'load' in dir(actionlab)") == []
    import actionlab

    assert callable(actionlab.load) and callable(actionlab.create_model) and actionlab.Config is not None
    assert "tsm_r50.k400" in actionlab.list_pretrained("tsm*")


def _all_parsers():
    from actionlab.cli import build_parser

    stack = [("actionlab", build_parser())]
    while stack:
        name, parser = stack.pop()
        yield name, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                stack += [(f"{name} {sub}", p) for sub, p in action.choices.items()]


def test_every_option_with_a_default_shows_it_in_help():
    missing = []
    for name, parser in _all_parsers():
        formatter = parser._get_formatter()
        for action in parser._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS:
                continue
            if action.default in (None, False, True, [], argparse.SUPPRESS):
                continue
            text = formatter._get_help_string(action) or ""
            if "default" not in text.lower():
                missing.append(f"{name} {action.option_strings[0]}")
    assert missing == []
    help_text = {n: p.format_help() for n, p in _all_parsers()}
    assert "(default: 5)" in help_text["actionlab predict"]  # --topk


def test_bench_and_export_help_name_everything_they_do():
    from actionlab.cli import COMMANDS
    from actionlab.commands.bench import BENCHMARKS
    from actionlab.commands.export import FORMATS
    from actionlab.export import FORMATS as GRAPH_FORMATS

    parsers = dict(_all_parsers())
    top = parsers["actionlab"].format_help()
    bench = parsers["actionlab bench"].format_help()
    for name in BENCHMARKS:  # the one-line summary and the description's list both name every benchmark
        assert name in COMMANDS["bench"] and f"\n  {name} " in bench.split("positional arguments")[0]
    assert set(FORMATS) == {*GRAPH_FORMATS, "hub"}  # the command's choices are the exporter's formats + hub
    export = parsers["actionlab export"].format_help()
    assert "hub" in COMMANDS["export"] and COMMANDS["export"] in " ".join(top.split())
    assert "checkpoints/last.pt" in export


@pytest.mark.parametrize("argv", [["list-pretrained"], ["demo", "--list"]])
def test_listings_fit_a_100_column_terminal(argv, capsys, monkeypatch):
    from actionlab.cli import main

    monkeypatch.setenv("COLUMNS", "100")
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) > 10 and max(len(line) for line in lines) <= 100
