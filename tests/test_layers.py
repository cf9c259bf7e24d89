"""The package's structure: imports follow the layers, no cycles, no private names across modules.

The layers (lowest first; a module imports only from lower layers or from its own package):

    errors -> _util -> data -> models -> attacks, noise -> evaluation, metrics -> testgen, explain
      -> distribute, export -> report -> config -> pipeline -> callbacks, serve -> cli

``cli`` sits on top (``featuretest serve`` starts the service). ``config`` sits just below
``pipeline`` because it checks every key against the registries below it (data sources,
architectures, noises, radii) when a file is read. Imports of the package's own
modules sit at module top, except in ``cli/`` (commands import lazily so that ``--help`` stays fast
and TensorFlow's log level is set before TensorFlow loads).
"""
import ast
import os
import textwrap

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.join(os.path.dirname(HERE), "tf_featuretest")
LAYERS = (("errors", ""), ("_util",), ("data",), ("models",), ("attacks", "noise"), ("evaluation", "metrics"),
          ("testgen", "explain"), ("distribute", "export"), ("report",), ("config",), ("pipeline",),
          ("callbacks", "serve"), ("cli", "__main__"))
LAZY_IMPORTS_ALLOWED = ("cli",)
MAX_LINES = 400


def _modules(root, name):
    """``{dotted module name: file path}`` of every module under ``root`` (the package folder)."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(d, f), root)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                out[".".join([name] + rel)] = os.path.join(d, f)
    return out


def _resolve(module, is_package, node):
    """The absolute module an ``ImportFrom`` node reads from."""
    if not node.level:
        return node.module
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _component(module, name):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _layer(component):
    for i, group in enumerate(LAYERS):
        if component in group:
            return i
    raise AssertionError(f"no layer for package part {component!r}: add it to LAYERS")


def check_package(root, name="tf_featuretest"):
    """Every structural violation in the package at ``root``, as readable lines."""
    mods = _modules(root, name)
    problems, edges = [], {m: set() for m in mods}
    for module, path in sorted(mods.items()):
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        tree = ast.parse(text, path)
        is_package = path.endswith("__init__.py")
        here = _component(module, name)
        if len(text.splitlines()) > MAX_LINES:
            problems.append(f"{module}: {len(text.splitlines())} lines (at most {MAX_LINES})")
        top_level = {id(n) for n in tree.body}
        aliases = {}
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.ImportFrom):
                src = _resolve(module, is_package, node)
                for a in node.names:
                    full = f"{src}.{a.name}"
                    targets.append((full if full in mods else src, a.name, a.asname or a.name, full in mods))
            elif isinstance(node, ast.Import):
                targets = [(a.name, a.name, a.asname or a.name.split(".")[0], True) for a in node.names]
            for target, imported, bound, is_module in targets:
                if target != name and not target.startswith(name + "."):
                    continue
                where = f"{module}:{node.lineno}"
                there = _component(target, name)
                if id(node) not in top_level and here not in LAZY_IMPORTS_ALLOWED and module != name:
                    problems.append(f"{where}: function-level import of {target}")
                if module == name or (here == "__main__"):
                    edges[module].add(target)
                    continue
                if there != here and not (target == name and imported == "__version__"):
                    if _layer(there) >= _layer(here):
                        problems.append(f"{where}: {here} imports {there} ({target}), a layer at or above its own")
                private = [p for p in target.split(".")[1:] if p.startswith("_") and p not in ("_util",)]
                if not is_module and imported.startswith("_") and not imported.startswith("__"):
                    private.append(imported)
                if private and there != here:
                    problems.append(f"{where}: uses the private {'.'.join(private)} of another package ({target})")
                if private and there == here and not is_module and imported.startswith("_") \
                        and target != module:
                    problems.append(f"{where}: imports the private name {imported} of {target}")
                if is_module:
                    aliases[bound] = target
                if id(node) in top_level:
                    edges[module].add(target)
        for node in ast.walk(tree):  # module._private attribute use
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                problems.append(f"{module}:{node.lineno}: uses {node.value.id}.{node.attr}, a private name of "
                                f"{aliases[node.value.id]}")
    problems += _cycles(edges)
    return problems


def _cycles(edges):
    """Import cycles among module-level imports (Tarjan's strongly connected components)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append("import cycle: " + " -> ".join(sorted(comp)))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_package_follows_its_layers():
    assert check_package(PACKAGE) == []


def _write(root, files):
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(textwrap.dedent(text))


@pytest.mark.parametrize("files, fragment", [
    ({"models/a.py": "from ..attacks import b\n", "attacks/__init__.py": "", "attacks/b.py": ""},
     "models imports attacks"),
    ({"models/a.py": "def f():\n    from ..data import x\n", "data/__init__.py": "x = 1\n"},
     "function-level import of pkg.data"),
    ({"evaluation/a.py": "from ..attacks._ops import helper\n", "attacks/__init__.py": "", "attacks/_ops.py": ""},
     "private _ops of another package"),
    ({"attacks/a.py": "from . import b\nb._hidden()\n", "attacks/b.py": "def _hidden(): pass\n"},
     "uses b._hidden"),
    ({"attacks/a.py": "from .b import _hidden\n", "attacks/b.py": "def _hidden(): pass\n"},
     "private name _hidden"),
    ({"attacks/a.py": "from . import b\n", "attacks/b.py": "from . import a\n"}, "import cycle"),
    ({"data/big.py": "x = 1\n" * 401}, "401 lines"),
])
def test_the_checker_finds_each_kind_of_violation(tmp_path, files, fragment):
    root = tmp_path / "pkg"
    _write(str(root), {"__init__.py": "", **{k: v for k, v in files.items()},
                       **{f"{os.path.dirname(k)}/__init__.py": "" for k in files
                          if f"{os.path.dirname(k)}/__init__.py" not in files}})
    problems = check_package(str(root), "pkg")
    assert any(fragment in p for p in problems), problems


def test_the_checker_accepts_a_clean_tree(tmp_path):
    root = tmp_path / "pkg"
    _write(str(root), {"__init__.py": "", "errors.py": "", "_util/__init__.py": "", "_util/io.py": "",
                       "data/__init__.py": "from .load import x\n", "data/load.py": "from .._util import io\nx = 1\n",
                       "models/__init__.py": "", "models/m.py": "from ..data import x\nfrom . import _private\n",
                       "models/_private.py": "from ..errors import *\n"})
    assert check_package(str(root), "pkg") == []
