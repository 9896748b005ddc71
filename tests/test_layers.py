"""The package's modules import only their own layer and the layers below it
(docs/layout.md, "How the package is built"): the data flow reads top-down."""

import ast
import importlib.util
from pathlib import Path

import skfisher

#: the layers of docs/layout.md, in the order the data flows; a module may import from
#: its own subpackage and from earlier layers
LAYERS = [
    ("utils", {"utils", "_config"}),
    ("data sets", {"datasets"}),
    ("networks", {"nets"}),
    ("Fisher", {"fisher"}),
    ("selection", {"selection"}),
    ("strategies", {"strategies"}),
    ("distributed", {"distributed"}),
    ("active learning", {"active"}),
    ("experiments", {"experiments"}),
    ("labeling", {"labeling"}),
    ("labeling page", {"app"}),
    ("command line", {"cli", "__main__"}),
]
PACKAGE = Path(skfisher.__file__).parent


def _layer_of(module):
    """Layer number of ``skfisher.<module>[.sub]`` (a package counts as one module)."""
    top = module.split(".")[1]
    return next(i for i, (_, names) in enumerate(LAYERS) if top in names)


def _imports(path):
    """The skfisher modules that the file at ``path`` imports at its top level."""
    module = ".".join(("skfisher",) + path.relative_to(PACKAGE).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    package = package.removesuffix(".__init__")
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            name = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            found |= {name} if node.module else {f"{name}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return module.removesuffix(".__init__"), {m for m in found if m.startswith("skfisher.")}


def test_every_module_has_a_layer():
    names = set().union(*(names for _, names in LAYERS))
    modules = {
        p.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for p in PACKAGE.glob("*")
        if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert modules - {"__init__"} == names


def test_modules_import_only_their_layer_and_the_layers_below():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module, imported = _imports(path)
        if module == "skfisher":  # the package's face re-exports every layer
            continue
        for target in imported:
            if _layer_of(target) > _layer_of(module):
                wrong.append(
                    f"{module} ({LAYERS[_layer_of(module)][0]}) imports {target} "
                    f"({LAYERS[_layer_of(target)][0]})"
                )
    assert not wrong, "\n".join(wrong)


def _code_lines(function):
    """Lines of ``function`` but its docstring and those of the functions in it."""
    lines = set(range(function.lineno, function.end_lineno + 1))
    for node in ast.walk(function):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                lines -= set(range(first.lineno, first.end_lineno + 1))
    return len(lines)


def test_modules_and_functions_stay_small():
    """No module over 400 lines, no function over 60 lines but its docstring."""
    big = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        if source.count("\n") > 400:
            big.append(f"{path.relative_to(PACKAGE)}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _code_lines(node) > 60:
                big.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    assert not big, "\n".join(big)


def test_no_deprecation_shims():
    found = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "deprecat" in path.read_text().lower()
    ]
    assert not found, found


def test_only_the_validation_module_uses_sklearn_private_validation():
    """scikit-learn's constraint API and _fit_context are private: one module wraps them."""
    users = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "_param_validation" in path.read_text() or "_fit_context" in path.read_text()
    )
    assert users == ["utils/_validation.py"]
