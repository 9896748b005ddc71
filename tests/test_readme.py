"""Every ```python block of README.md runs as written.

Each block runs on its own, in a fresh namespace, from a temporary folder.
Two HTML comments on the line right before a block change that, visibly in
the README's source:

* ``<!-- readme-test: continue -->`` runs the block in the namespace of the
  block before it (a continuation of the same example);
* ``<!-- readme-test: skip REASON -->`` does not run it; REASON is required.
"""

import re
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"
FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
DIRECTIVE = re.compile(r"<!--\s*readme-test:\s*(\w+)\s*(.*?)\s*-->\s*\Z")


def readme_examples(text):
    """Group the python blocks of ``text`` into examples: ``(line, code, skip_reason)``.

    A block marked ``continue`` joins the example before it; a block marked
    ``skip`` is reported with its reason.
    """
    examples = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        directive = DIRECTIVE.search(before)
        action, reason = directive.groups() if directive else ("run", "")
        if action == "continue":
            if not examples:
                raise ValueError(f"README line {line}: nothing before it to continue")
            first, code, skip = examples[-1]
            examples[-1] = (first, code + match.group(1), skip)
        elif action == "skip":
            if not reason:
                raise ValueError(f"README line {line}: readme-test: skip needs a reason")
            examples.append((line, match.group(1), reason))
        elif action == "run":
            examples.append((line, match.group(1), None))
        else:
            raise ValueError(f"README line {line}: unknown readme-test directive {action!r}")
    return examples


EXAMPLES = readme_examples(README.read_text(encoding="utf-8"))


def test_readme_has_python_examples():
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize(
    "line, code, skip", EXAMPLES, ids=[f"line{line}" for line, _, _ in EXAMPLES]
)
def test_readme_example_runs(line, code, skip, tmp_path, monkeypatch):
    if skip:
        pytest.skip(skip)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    exec(compile(code, f"{README.name}:{line}", "exec"), {"__name__": "__main__"})


def test_directives():
    text = (
        "```python\na = 1\n```\n<!-- readme-test: continue -->\n```python\nb = a\n```\n"
        "<!-- readme-test: skip needs a GPU -->\n```python\nc = 2\n```\n"
        "```bash\nls\n```\n```python\nd = 3\n```\n"
    )
    assert readme_examples(text) == [
        (1, "a = 1\nb = a\n", None),
        (9, "c = 2\n", "needs a GPU"),
        (15, "d = 3\n", None),
    ]
    with pytest.raises(ValueError, match="needs a reason"):
        readme_examples("<!-- readme-test: skip -->\n```python\nx\n```\n")
    with pytest.raises(ValueError, match="unknown readme-test directive 'maybe'"):
        readme_examples("<!-- readme-test: maybe -->\n```python\nx\n```\n")
    with pytest.raises(ValueError, match="nothing before it"):
        readme_examples("<!-- readme-test: continue -->\n```python\nx\n```\n")
