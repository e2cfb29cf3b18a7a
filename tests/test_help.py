"""What the tools say about themselves: every option's help gives its default, descriptions are
whole sentences, and the README's sample output is what the command prints."""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
import types

import pytest
from conftest import ROOT

from emulator.cli.main import _parser

SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))


class _Parsed(Exception):
    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser


def _script_parser(path, monkeypatch) -> argparse.ArgumentParser | None:
    """The parser a script's main() builds (None for the aliases of `python -m emulator`, which
    have none of their own): main() runs until it parses its arguments, and stops there."""
    tree = ast.parse(path.read_text())
    if not any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body):
        return None

    def stop(self, *args, **kw):
        raise _Parsed(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", stop)
    monkeypatch.setattr(sys, "argv", [str(path)])
    # a module of its own, in sys.modules: a script's dataclasses look their module up there
    module = types.ModuleType("script_under_test")
    module.__file__ = str(path)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(path.read_text(), str(path), "exec"), module.__dict__)
    with pytest.raises(_Parsed) as parsed:
        module.main()
    return parsed.value.parser


def _parsers(parser: argparse.ArgumentParser, name: str):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, p in action.choices.items():
                yield from _parsers(p, f"{name} {sub}")


def _without_default(parser: argparse.ArgumentParser) -> list[str]:
    """Options that have a default their help does not give (or gives twice)."""
    bad = []
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or action.help in (None, argparse.SUPPRESS):
            continue
        if isinstance(action, argparse._HelpAction | argparse._VersionAction):
            continue
        d = action.default
        if d is None or d is False or d is argparse.SUPPRESS or d in ([], {}):
            continue  # no default to give (0 is one)
        said = formatter._expand_help(action).count("(default")
        if said != 1:
            bad.append(f"{action.option_strings[0]} (default {action.default!r} said {said}x)")
    return bad


def test_every_emulator_option_gives_its_default():
    bad = {name: _without_default(p) for name, p in _parsers(_parser(), "python -m emulator")}
    assert not {k: v for k, v in bad.items() if v}


def test_the_checker_catches_a_hidden_default():
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=0, help="the seed")
    p.add_argument("--jobs", type=int, default=2, help="workers (default: cores) (default 2)")
    assert _without_default(p) == ["--seed (default 0 said 0x)", "--jobs (default 2 said 2x)"]


def _choices_unexplained(parser: argparse.ArgumentParser) -> list[str]:
    """Choices an option's help does not name (argparse lists them, but not what they mean)."""
    bad = []
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or not action.choices:
            continue
        text = formatter._expand_help(action) if action.help else ""
        bad += [
            f"{action.option_strings[0]} {c}"
            for c in action.choices
            if not re.search(rf"(?<![\w-]){re.escape(str(c))}(?![\w-])", text)
        ]
    return bad


def test_every_choice_is_explained():
    bad = [_choices_unexplained(p) for _, p in _parsers(_parser(), "python -m emulator")]
    assert [b for b in bad if b] == []


def test_the_checker_catches_an_unexplained_choice():
    """--schedule listed timed among its choices but did not say what it is."""
    p = argparse.ArgumentParser()
    p.add_argument("--schedule", choices=["rr", "random", "timed"], help="rr (in order), random")
    p.add_argument("--pct-unit", choices=["sync", "atomics"], help="atomics or sync-ish")
    assert _choices_unexplained(p) == ["--schedule timed", "--pct-unit sync"]


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_script_options_give_their_defaults(path, monkeypatch):
    parser = _script_parser(path, monkeypatch)
    if parser is None:
        pytest.skip(f"{path.name} is an alias: its options are python -m emulator's")
    assert not _without_default(parser)
    for action in parser._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            assert action.help, f"{action.option_strings[0]} has no help"


def _sentence(text: str | None) -> bool:
    text = (text or "").strip()
    return bool(text) and text[0].isupper() and text.endswith((".", ".)"))


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_script_descriptions_are_sentences(path, monkeypatch):
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    first = doc.splitlines()[0] if doc else ""
    assert _sentence(first), f"{path.name}: first line of its docstring: {first!r}"
    parser = _script_parser(path, monkeypatch)
    if parser is not None:
        assert _sentence(parser.description), parser.description


def test_emulator_commands_describe_themselves():
    for name, p in _parsers(_parser(), "python -m emulator"):
        assert _sentence(p.description), (name, p.description)


def _sample(command: str) -> list[str]:
    """The output block that follows the ```sh block holding `command` in the README."""
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"```sh\n" + re.escape(command) + r"\n```\n.*?```\n(.*?)```", readme, re.S)
    assert m, f"README has no sample output after {command!r}"
    return m.group(1).splitlines()


def test_readme_sample_output_is_what_the_command_prints(tmp_path):
    sample = _sample("python -m emulator run --harts 4")
    proc = subprocess.run(
        [sys.executable, "-m", "emulator", "run", "--harts", "4"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout.splitlines() + proc.stderr.splitlines()
    assert len(printed) == len(sample), (printed, sample)
    for got, shown in zip(printed, sample, strict=True):
        # what differs from run to run: the MIPS figure and the run directory's time stamp
        pattern = re.escape(shown)
        pattern = re.sub(r"\d+\\\.\d+\\ MIPS", r"[\\d.]+\\ MIPS", pattern)
        pattern = re.sub(r"\d{8}\\-\d{6}", r"\\d{8}-\\d{6}", pattern)
        assert re.fullmatch(pattern, got), (got, shown)
