"""The API reference (docs/api.md) lists every public name, and nothing else.

Each subpackage's section lists its ``__all__`` in an autosummary (one page
per name, generated from the docstrings when the site is built); the
``skfisher`` section lists the top-level ``__all__``, each name with the page
that documents it.
"""

import importlib
import pkgutil
import re
import types
from pathlib import Path

import pytest

import skfisher

API = Path(__file__).parents[1] / "docs" / "api.md"
SECTION = re.compile(r"^## `(skfisher(?:\.\w+)?)`\n(.*?)(?=^## |\Z)", re.DOTALL | re.MULTILINE)
AUTOSUMMARY = re.compile(r"^\.\. autosummary::\n(?:   :.*\n)*\n((?:   \S.*\n)+)", re.MULTILINE)
SUBPACKAGES = sorted(m.name for m in pkgutil.iter_modules(skfisher.__path__) if m.ispkg)


def sections(text):
    """``{module: (autosummary names, names in backquotes)}`` of the reference's sections."""
    out = {}
    for module, body in SECTION.findall(text):
        listed = [n.strip() for block in AUTOSUMMARY.findall(body) for n in block.splitlines()]
        out[module] = (listed, re.findall(r"^\| `skfisher\.(\w+)` \|", body, re.MULTILINE))
    return out


SECTIONS = sections(API.read_text(encoding="utf-8"))


def test_every_subpackage_has_a_section():
    assert "cli" in SUBPACKAGES and "selection" in SUBPACKAGES
    assert sorted(SECTIONS) == ["skfisher"] + [f"skfisher.{name}" for name in SUBPACKAGES]


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_a_subpackage_section_lists_its_all(name):
    module = importlib.import_module(f"skfisher.{name}")
    listed, _ = SECTIONS[f"skfisher.{name}"]
    assert len(listed) == len(set(listed))
    assert set(listed) == set(module.__all__)


def test_the_top_level_section_lists_skfishers_all():
    listed, table = SECTIONS["skfisher"]
    assert sorted(table) == sorted(skfisher.__all__)
    # names defined at the top level have their own pages; the others are
    # documented under the subpackage that holds them
    elsewhere = {
        id(getattr(importlib.import_module(f"skfisher.{s}"), n))
        for s in SUBPACKAGES
        for n in importlib.import_module(f"skfisher.{s}").__all__
    }
    own = [
        n
        for n in skfisher.__all__
        if not isinstance(getattr(skfisher, n), types.ModuleType)
        and id(getattr(skfisher, n)) not in elsewhere
    ]
    assert sorted(listed) == sorted(own)


def test_the_parser_finds_names_and_misses():
    text = (
        "## `skfisher`\n\n| `skfisher.a` | x |\n\n.. autosummary::\n   :toctree: generated/\n\n"
        "   b\n```\n\n## `skfisher.sub`\n\n.. autosummary::\n   :toctree: generated/\n\n"
        "   c\n   d\n```\n"
    )
    assert sections(text) == {"skfisher": (["b"], ["a"]), "skfisher.sub": (["c", "d"], [])}
