"""Media tools are run with argument lists, never through a shell: a scan of the project's Python source.

A file name holding shell metacharacters (``a;rm -rf ~.mp4``) is then only ever one argument. The scan
(AST, not text) flags ``shell=`` anything but ``False``, the shell-running calls (``os.system``,
``os.popen``, ``subprocess.getoutput``/``getstatusoutput``, ``asyncio.create_subprocess_shell``), a
``subprocess``/``asyncio`` exec call whose command is a string (a literal, an f-string, a
concatenation, ``.format``/``.join``, or a name assigned one of those in the same function), and
ffmpeg-python's ``run(cmd=…)`` given a whole command line instead of the binary.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".venv", "venv", ".git", ".tox", "build", "dist", "__pycache__", "node_modules"}

SHELL_CALLS = {
    "os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput",
    "asyncio.create_subprocess_shell", "commands.getoutput", "commands.getstatusoutput",
}
ARGV_CALLS = {f"subprocess.{name}" for name in ("run", "call", "check_call", "check_output", "Popen")} | {"asyncio.create_subprocess_exec"}
FFMPEG_RUNNERS = {"run", "run_async", "compile", "get_args"}


def project_sources(root: Path = ROOT) -> list[Path]:
    """Every Python file of the project (not the virtual environment, build output or hidden folders)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts[:-1]
        if any(p in SKIP_DIRS or p.startswith(".") or p.endswith(".egg-info") for p in parts):
            continue
        found.append(path)
    return found


class _Scanner(ast.NodeVisitor):
    """Collects (line, reason) for every shell use in one module."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}  # local name -> qualified name, from the imports
        self.scopes: list[dict[str, list[ast.expr]]] = [{}]  # names assigned per function (module first)
        self.findings: list[tuple[int, str]] = []

    # --- names ------------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def qualified(self, func: ast.expr) -> str:
        parts: list[str] = []
        while isinstance(func, ast.Attribute):
            parts.append(func.attr)
            func = func.value
        if not isinstance(func, ast.Name):
            return ".".join(reversed(parts))
        head = self.aliases.get(func.id, func.id)
        return ".".join([head, *reversed(parts)])

    def _scoped(self, node: ast.AST) -> None:
        assigned: dict[str, list[ast.expr]] = {}
        for child in ast.walk(node):
            targets = child.targets if isinstance(child, ast.Assign) else [child.target] if isinstance(child, ast.AnnAssign) and child.value else []
            for target in targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, []).append(child.value)
        self.scopes.append(assigned)
        self.generic_visit(node)
        self.scopes.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _scoped

    def visit_Module(self, node: ast.Module) -> None:
        self._scoped(node)

    # --- strings ----------------------------------------------------------------------------
    def stringy(self, node: ast.expr | None, depth: int = 0) -> bool:
        """Whether ``node`` evaluates to one string (a command line) rather than an argument list."""
        if node is None or depth > 3:
            return False
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str)
        if isinstance(node, ast.JoinedStr):
            return True
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
            return self.stringy(node.left, depth + 1) or (isinstance(node.op, ast.Add) and self.stringy(node.right, depth + 1))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join"):
            return self.stringy(node.func.value, depth + 1)
        if isinstance(node, ast.Name):  # the innermost function (or the module) that assigns it
            for scope in reversed(self.scopes):
                if node.id in scope:
                    return any(self.stringy(value, depth + 1) for value in scope[node.id])
        return False

    # --- calls ------------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        name = self.qualified(node.func)
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        shell = keywords.get("shell")
        if shell is not None and not (isinstance(shell, ast.Constant) and shell.value is False):
            self.findings.append((node.lineno, f"{name}(…, shell=…): run the tool with an argument list, without a shell"))
        if name in SHELL_CALLS:
            self.findings.append((node.lineno, f"{name}() runs its command through a shell"))
        if name in ARGV_CALLS:
            command = node.args[0] if node.args else keywords.get("args") or keywords.get("program")
            if self.stringy(command):
                self.findings.append((node.lineno, f"{name}() with a string command: pass an argument list"))
        if isinstance(node.func, ast.Attribute) and node.func.attr in FFMPEG_RUNNERS and "cmd" in keywords:
            cmd = keywords["cmd"]
            whole_line = isinstance(cmd, ast.JoinedStr) or (isinstance(cmd, ast.Constant) and isinstance(cmd.value, str) and any(c.isspace() for c in cmd.value))
            if whole_line:
                self.findings.append((node.lineno, f".{node.func.attr}(cmd=…) with a command line: cmd names the binary only"))
        self.generic_visit(node)


def scan_source(text: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, reason) of every shell use in one module's source."""
    scanner = _Scanner()
    scanner.visit(ast.parse(text, filename=filename))
    return sorted(scanner.findings)


@pytest.mark.parametrize(
    "code",
    [
        "import subprocess\nsubprocess.run('ffmpeg -i in.mp4 out.wav', shell=True)",
        "import subprocess\nsubprocess.run(['ffmpeg'], shell=flag)",
        "import subprocess as sp\nsp.check_output(f'ffprobe {path}')",
        "from subprocess import Popen\nPopen('espeak-ng ' + text)",
        "import subprocess\ndef f(p):\n    cmd = 'ffmpeg -i %s x.wav' % p\n    subprocess.call(cmd)",
        "import subprocess\nsubprocess.run(args=' '.join(['ffmpeg', src]))",
        "import os\nos.system('ffmpeg -i ' + src)",
        "from os import popen\npopen('ls')",
        "import subprocess\nsubprocess.getoutput('apertium en-es')",
        "import asyncio\nasyncio.create_subprocess_shell('ffmpeg')",
        "import ffmpeg\nffmpeg.input(src).output(dst).run(cmd='nice -n 10 ffmpeg')",
        "import ffmpeg\nstream.run_async(cmd=f'{tool} -y')",
    ],
)
def test_the_scan_finds_shell_uses(code):
    assert scan_source(code), code


@pytest.mark.parametrize(
    "code",
    [
        "import subprocess\nsubprocess.run(['ffmpeg', '-i', src, dst], check=True)",
        "import subprocess\ndef f(src):\n    cmd = ['ffprobe', src]\n    subprocess.run(cmd, shell=False)",
        "import subprocess\nsubprocess.Popen([binary, f'--voices={code}'], stdout=subprocess.PIPE)",
        "import ffmpeg\nffmpeg.input(src).output(dst).run(cmd='ffmpeg', quiet=True)",
        "import ffmpeg\nffmpeg.input(src).output(dst).run(cmd=['ffmpeg', '-nostdin'])",
        "result = client.run('job name')  # not a subprocess call",
    ],
)
def test_the_scan_passes_argument_lists(code):
    assert scan_source(code) == [], code


def test_no_project_source_runs_a_shell():
    sources = project_sources()
    assert len(sources) > 50 and ROOT / "models" / "mux.py" in sources and ROOT / "models" / "video_io.py" in sources
    findings = [
        f"{path.relative_to(ROOT)}:{line}: {reason}"
        for path in sources
        for line, reason in scan_source(path.read_text(encoding="utf-8"), str(path))
    ]
    assert findings == [], "\n".join(findings)
