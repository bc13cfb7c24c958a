"""The architecture is enforced: modules import only lower layers, and JAX is never imported by dualrev."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1] / "dualrev"
# A module may import from its own layer or lower ones (DESIGN.md, high to low).
LAYERS = [
    {"tree_util"},
    {"core"},
    {"numpy", "scipy"},
    {"forward", "reverse", "batching", "graph"},
    {"transforms", "compile"},
    {"custom"},
    {"testing"},
    {"sparse"},
    {"optimize", "integrate", "parallel", "nn", "__init__", "__main__"},  # integrate uses optimize's result type
]


def layer_of(module: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if module in layer)


def imports_of(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def test_no_module_imports_a_higher_layer_and_none_imports_jax():
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).parts
        me = layer_of(rel[0].removesuffix(".py"))
        for mod in imports_of(path):
            assert not mod.startswith("jax"), f"{path} imports {mod}"
            if mod.startswith("dualrev."):
                them = layer_of(mod.split(".")[1])
                assert them <= me, f"{path.relative_to(ROOT)} imports {mod} from a higher layer"


# dualrev.nn is built on the public API only (DESIGN.md): `import dualrev as dr`, dualrev.numpy, dualrev.tree_util
# and its own modules; never dualrev.core or another engine module.
NN_MAY_IMPORT = {"dualrev", "dualrev.numpy", "dualrev.tree_util"}


def _imported_names(path):
    """(module, name) for every ``from module import name``; (module, None) for every ``import module``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield from ((node.module, a.name) for a in node.names)
        elif isinstance(node, ast.Import):
            yield from ((a.name, None) for a in node.names)


def test_nn_uses_only_the_public_api():
    import dualrev

    public = set(dualrev.__all__) | {"numpy", "tree_util"}
    for path in (ROOT / "nn").rglob("*.py"):
        for mod, name in _imported_names(path):
            if not mod.startswith("dualrev") or mod == "dualrev.nn" or mod.startswith("dualrev.nn."):
                continue
            where = path.relative_to(ROOT)
            assert mod in NN_MAY_IMPORT, f"{where} imports {mod}: dualrev.nn uses only the public API"
            if mod == "dualrev" and name is not None:
                assert name in public, f"{where} imports dualrev.{name}: dualrev.nn uses only the public API"
