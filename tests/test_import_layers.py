"""mmdicm's import graph runs one way: each package imports only from packages below it
(the paper's Fig. 1, left to right, then the OpenMMLab glue, then the tools' back-ends)."""
import ast
import os
import os.path as osp

import mmdicm

ROOT = osp.dirname(mmdicm.__file__)
#: low to high; a package may import from its own layer and the ones below, never above
LAYERS = [
    {'version', 'utils', 'mim', 'mim_hook'},
    {'layers'},
    {'codec'},
    {'models'},
    {'baselines', 'datasets', 'evaluation'},
    {'engine'},
    {'apis'},
    {'benchmarks'},
    {'integrations'},  # other frameworks (detectron2): never imported by ``import mmdicm``
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def _package(module: str) -> str:
    """'mmdicm.codec.entropy' -> 'codec'; 'mmdicm' -> ''."""
    parts = module.split('.')
    return parts[1] if len(parts) > 1 else ''


def _imports(path: str, module: str):
    tree = ast.parse(open(path, encoding='utf-8').read())
    if (ast.get_docstring(tree) or '').startswith('Moved to'):
        return  # a deprecation alias of a moved module (gone next release), not a dependency
    pkg_parts = module.split('.') if path.endswith('__init__.py') else module.split('.')[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith('mmdicm'):
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts[:len(pkg_parts) - node.level + 1]
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ''
            if target.startswith('mmdicm'):
                if target == 'mmdicm' or not node.module and node.level:
                    for alias in node.names:
                        yield f'{target}.{alias.name}', node.lineno
                else:
                    yield target, node.lineno


def import_edges():
    for dirpath, _, files in os.walk(ROOT):
        for name in files:
            if not name.endswith('.py'):
                continue
            path = osp.join(dirpath, name)
            rel = osp.relpath(path, osp.dirname(ROOT))[:-3].replace(os.sep, '.')
            module = rel[:-len('.__init__')] if rel.endswith('.__init__') else rel
            for target, line in _imports(path, module):
                yield module, target, f'{osp.relpath(path, osp.dirname(ROOT))}:{line}'


def test_every_package_has_a_layer():
    packages = {n[:-3] if n.endswith('.py') else n for n in os.listdir(ROOT)
                if not n.startswith(('_', '.')) and (n.endswith('.py') or
                                                     osp.isdir(osp.join(ROOT, n)))}
    assert packages <= set(RANK), sorted(packages - set(RANK))


def test_imports_run_one_way():
    upward = []
    for source, target, where in import_edges():
        src, dst = _package(source), _package(target)
        if not src or not dst or src == dst:
            continue  # mmdicm/__init__ registers everything; a package's own modules
        if RANK[dst] > RANK[src]:
            upward.append(f'{where}: {source} imports {target}')
    assert not upward, '\n'.join(upward)


def test_no_import_loops_between_packages():
    edges = {}
    for source, target, _ in import_edges():
        src, dst = _package(source), _package(target)
        if src and dst and src != dst:
            edges.setdefault(src, set()).add(dst)
    seen, stack = set(), []

    def visit(node):
        if node in stack:
            raise AssertionError('import loop: ' + ' -> '.join(stack[stack.index(node):] +
                                                               [node]))
        if node in seen:
            return
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            visit(nxt)
        stack.pop()
        seen.add(node)

    for node in sorted(edges):
        visit(node)
