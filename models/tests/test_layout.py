"""The toolkit's layout: each subpackage imports only the ones below it, imports inside functions
included (a function-level import hid a circle once: chess_game -> dataset -> games -> chess_game).
Read from the source with ast, so an import that would only run later is seen too."""
import ast
import os
import unittest

PKG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kibitz_models")

# Bottom up; a subpackage may import its own modules and those of the layers before it.
LAYERS = ["data", "model", "games", "questions", "export", "training", "evaluation"]
ALLOWED = {name: set(LAYERS[:i + 1]) for i, name in enumerate(LAYERS)}
ALLOWED["model"] = {"data", "model"}
ALLOWED["games"] = {"data", "games"}                      # games and model stand side by side
ALLOWED["videollm"] = {"data", "model", "export", "videollm"}
ALLOWED["cli"] = set(LAYERS) | {"videollm"}


def modules():
    """kibitz_models-relative dotted name -> path, for every .py file."""
    out = {}
    for root, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(root, f), PKG)[:-3].replace(os.sep, ".")
                out[rel[:-len(".__init__")] if rel.endswith("__init__") else rel] = os.path.join(root, f)
    return out


def imports(name, path, known):
    """The toolkit modules `name` imports, wherever the import statement stands."""
    tree = ast.parse(open(path).read())
    here = name.split(".")[:-1] if not path.endswith("__init__.py") else name.split(".")
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[:len(here) - node.level + 1] + (node.module.split(".") if node.module else [])
            for alias in node.names:
                cand = ".".join(base + [alias.name])
                found.add(cand if cand in known else ".".join(base))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for n in names:
                if n.startswith("kibitz_models."):
                    found.add(n[len("kibitz_models."):])
    return {f for f in found if f in known and f != name}


class LayoutTest(unittest.TestCase):
    def setUp(self):
        self.known = modules()
        self.graph = {m: imports(m, p, self.known) for m, p in self.known.items()}

    def test_every_module_sits_in_a_known_subpackage(self):
        tops = {m.split(".")[0] for m in self.known if m}
        self.assertLessEqual(tops, set(ALLOWED), "a new subpackage needs its place in LAYERS")

    def test_imports_run_down_the_layers(self):
        wrong = [f"{m} -> {t}" for m, ts in self.graph.items() for t in ts
                 if m and t.split(".")[0] not in ALLOWED[m.split(".")[0]]]
        self.assertEqual(wrong, [], "an import runs up the layers (README.md 'The toolkit')")

    def test_no_circle(self):
        state = {}

        def visit(m, trail):
            state[m] = "open"
            for t in sorted(self.graph[m]):
                if state.get(t) == "open":
                    self.fail("import circle: " + " -> ".join(trail[trail.index(t):] + [t]))
                if t not in state:
                    visit(t, trail + [t])
            state[m] = "done"

        for m in sorted(self.graph):
            if m not in state:
                visit(m, [m])


if __name__ == "__main__":
    unittest.main()
