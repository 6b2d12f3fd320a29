"""The README's Python examples run as written (with fewer epochs and samples, so the test stays short)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
SHORTER = {"epochs=10": "epochs=1", "epochs=30": "epochs=1", "4096": "512"}


def test_readme_python_examples_run(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2
    code = "\n".join(blocks)
    for long, short in SHORTER.items():
        assert long in code
        code = code.replace(long, short)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {})
    printed = [float(line) for line in capsys.readouterr().out.split()]
    assert len(printed) == 3 and all(0 <= acc <= 1 for acc in printed)
    assert printed[1] > 0.5 and printed[2] > 0.5  # one epoch on MNIST-5k already learns, with plasticity too
    assert (tmp_path / "mnist.pt").is_file()
