"""Every ```python block of README.md and of the documentation's Markdown pages
(docs/**/*.md) runs as written.

Each block runs on its own, in a fresh namespace, from a temporary folder; a
block whose code is the same as an earlier one's (the quick start is on
several pages) runs once. Two HTML comments on the line right before a block
change that, visibly in the page's source:

* ``<!-- readme-test: continue -->`` runs the block in the namespace of the
  block before it (a continuation of the same example);
* ``<!-- readme-test: skip REASON -->`` does not run it; REASON is required.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
#: The Markdown pages whose python blocks run: the README, then the site's own
#: pages (not its build output or generated pages).
PAGES = [README] + sorted(
    p
    for p in (ROOT / "docs").rglob("*.md")
    if not {"_build", "generated", "auto_examples"} & set(p.relative_to(ROOT / "docs").parts)
)
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


def page_examples(pages, root=ROOT):
    """The examples of every page, ``(name, line, code, skip_reason)``, each code once."""
    seen, examples = set(), []
    for page in pages:
        name = page.relative_to(root).as_posix()
        for line, code, skip in readme_examples(page.read_text(encoding="utf-8")):
            if code not in seen:
                seen.add(code)
                examples.append((name, line, code, skip))
    return examples


EXAMPLES = page_examples(PAGES)


def test_readme_and_docs_have_python_examples():
    assert len(readme_examples(README.read_text(encoding="utf-8"))) >= 1
    assert len({name for name, *_ in EXAMPLES}) >= 5
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize(
    "name, line, code, skip", EXAMPLES, ids=[f"{name}:{line}" for name, line, _, _ in EXAMPLES]
)
def test_example_runs(name, line, code, skip, tmp_path, monkeypatch):
    if skip:
        pytest.skip(skip)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    exec(compile(code, f"{name}:{line}", "exec"), {"__name__": "__main__"})


def test_a_repeated_block_runs_once(tmp_path):
    (tmp_path / "a.md").write_text("```python\nx = 1\n```\n")
    (tmp_path / "b.md").write_text("text\n\n```python\nx = 1\n```\n```python\ny = 2\n```\n")
    assert page_examples([tmp_path / "a.md", tmp_path / "b.md"], root=tmp_path) == [
        ("a.md", 1, "x = 1\n", None),
        ("b.md", 6, "y = 2\n", None),
    ]


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
