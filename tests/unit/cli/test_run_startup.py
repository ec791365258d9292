"""``minke run``'s start-up imports only what it needs."""

from __future__ import annotations

import subprocess
import sys


def test_run_imports_neither_shutil_nor_the_template_engine() -> None:
    # argparse makes a help formatter per flag, and its own way to the terminal width
    # imports shutil with the compression modules: most of `minke run`'s start-up
    code = ("import sys\nfrom minke.cli.main import main\n"
            "main(['--host', 'unix:///nonexistent.sock', 'run', '--rm', '-e', 'A=1', 'x'])\n"
            "print(sorted({'shutil', 'lzma', 'bz2', 'minke.cli.template'} & set(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.strip() == "[]", proc.stderr
