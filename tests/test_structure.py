"""The package's shape: no import cycles, cheap imports, one output layer, complete plugin tables."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import click
import networkx as nx
import pytest

from conftest import ROOT

PKG = ROOT / "imgopt"
HEAVY = ("docker", "networkx", "zstandard", "requests", "yaml", "elftools", "tabulate", "isal", "zlib_ng")


def _modules() -> dict[str, Path]:
    mods = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


MODULES = _modules()


def _type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or \
        (isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool):
    """Every module ``module`` imports, at any depth (functions included), except under ``if TYPE_CHECKING:``."""
    package = module if is_package else module.rpartition(".")[0]
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for a in node.names:  # "from pkg import mod" names the submodule
                yield f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
        stack.extend(ast.iter_child_nodes(node))


def import_graph() -> nx.DiGraph:
    g = nx.DiGraph()
    for mod, path in MODULES.items():
        g.add_node(mod)
        for target in _imports(ast.parse(path.read_text()), mod, path.name == "__init__.py"):
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != mod:
                g.add_edge(mod, target)
    return g


def test_no_import_cycle_among_imgopts_modules():
    g = import_graph()
    assert g.number_of_edges() > 200  # the walk sees the imports (a broken walk would pass trivially)
    assert ("imgopt.trace.docker", "imgopt.trace.session") in g.edges
    cycles = sorted(" -> ".join(c + [c[0]]) for c in nx.simple_cycles(g))
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("module", sorted(set(MODULES) - {"imgopt.__main__"}))  # __main__ runs the CLI
def test_every_module_imports(module):
    importlib.import_module(module)


def test_importing_imgopt_and_the_cli_is_cheap():
    code = ("import sys, imgopt, imgopt.cli, imgopt.cli_options, imgopt.formats, imgopt.atomic, imgopt.errors; "
            "imgopt.formats.choices('analysis'); imgopt.cli.cli.get_command(None, 'inspect'); "
            "imgopt.cli.cli.get_command(None, 'scan'); imgopt.cli.cli.get_command(None, 'cache'); "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"heavy modules imported: {out}"


def test_the_library_is_at_the_top():
    import imgopt
    from imgopt import api

    for name in ("inspect", "slim", "copy"):
        assert getattr(imgopt, name) is getattr(api, name)
    for name in ("scan_merge", "cache_info", "cache_prune"):
        assert callable(getattr(api, name))
    for name in ("analyze", "trace", "minify", "simulate", "gate", "report", "scan"):  # callable stage packages
        pkg = getattr(imgopt, name)
        assert pkg is sys.modules[f"imgopt.{name}"] and callable(pkg)
    with pytest.raises(AttributeError):
        imgopt.no_such_thing  # noqa: B018


# command -> result kind it renders; a new command with --format adds its kind here
COMMAND_KINDS = {"inspect": "inspection", "analyze": "analysis", "trace": "trace", "minify": "minify",
                 "slim": "minify", "simulate": "simulation", "lint": "lint", "gate": "gate", "report": "report",
                 "scan run": "scan", "scan merge": "scan", "cache info": "cache", "cache prune": "cache"}


def _commands() -> dict[str, click.Command]:
    """Every command, subcommands of groups as "group sub" (imgopt scan, imgopt cache)."""
    from imgopt.cli import cli

    ctx = click.Context(cli)
    out = {}
    for name in cli.list_commands(ctx):
        cmd = cli.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            sub = click.Context(cmd, parent=ctx)
            out.update({f"{name} {n}": cmd.get_command(sub, n) for n in cmd.list_commands(sub)})
        else:
            out[name] = cmd
    return out


def test_every_lazy_command_loads():
    from imgopt.cli import LAZY_COMMANDS

    names = {n.split()[0] for n in _commands()}
    assert set(LAZY_COMMANDS) <= names, set(LAZY_COMMANDS) - names
    assert {"scan run", "scan merge", "cache info", "cache prune"} <= set(_commands())


def test_every_format_option_is_the_output_layers():
    from imgopt import formats

    seen = set()
    for name, cmd in _commands().items():
        fmt = [p for p in cmd.params if "--format" in getattr(p, "opts", [])]
        if not fmt:
            continue
        seen.add(name)
        assert name in COMMAND_KINDS, f"imgopt {name} has --format: add its result kind to COMMAND_KINDS"
        assert list(fmt[0].type.choices) == formats.choices(COMMAND_KINDS[name]), name
    assert seen == set(COMMAND_KINDS)


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def test_commands_print_only_through_the_output_layer():
    """Rendering lives in imgopt/formats: no table library elsewhere, CLI modules write stdout only through emit()."""
    for mod, path in MODULES.items():
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        if not mod.startswith("imgopt.formats"):
            assert "tabulate" not in names | mods, f"{mod} renders tables: move it to imgopt/formats"
        if mod == "imgopt.cli" or mod.endswith(".cli") or mod == "imgopt.cli_options":
            for call in _calls(tree):
                f = call.func
                if isinstance(f, ast.Attribute) and f.attr == "echo":
                    assert any(k.arg == "err" for k in call.keywords), \
                        f"{mod}:{call.lineno}: click.echo to stdout; render the result and emit() it"
                if isinstance(f, ast.Attribute) and f.attr == "dumps":
                    raise AssertionError(f"{mod}:{call.lineno}: JSON built in a CLI; use imgopt.formats")


def test_plugin_tables_name_what_they_load():
    from imgopt.image import transports
    from imgopt.trace import backends, options

    for name in transports.TRANSPORTS:
        t = transports.transport(name)
        assert t.name == name and t.prefix.startswith(name if name != "docker" else "docker://")
        for method in ("parse", "open", "write"):
            assert callable(getattr(t, method))
    from imgopt import formats, plugins

    for kind, table in formats.FORMATTERS.items():  # every renderer named exists (imports the module)
        for fmt, target in table.items():
            assert callable(plugins.load(target)), (kind, fmt)
    for name in backends.BACKENDS:
        b = backends.backend(name)
        assert b.name == name and callable(b.trace) and callable(b.auto_ok)
    assert options.BACKENDS == ("auto", *backends.BACKENDS) and set(backends.AUTO_ORDER) == set(backends.BACKENDS)
