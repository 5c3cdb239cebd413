"""docs/developing.md stays true: its code runs, its includes exist, its hooks are the example's.

Every code block of the page is one of: a text picture, an example session
(``pycon``, run here as a doctest), or a ``literalinclude`` of code that a
test runs (the worked example, its tests, the package's own estimators).
"""

import doctest
import inspect
import re
from pathlib import Path

import pytest
from example_estimator import MarginCentroidClassifier

import sklearn_meta

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "developing.md"
PACKAGE = Path(sklearn_meta.__file__).parent

#: a fenced block, indented or not (blocks inside list items): its language, argument, body
FENCE = re.compile(r"^( *)```(\S+)([^\n]*)\n(.*?)^\1```$", re.MULTILINE | re.DOTALL)


def fences(with_lines=False):
    """(language, argument, body) of every fenced block of the page, unindented.

    With ``with_lines``, each also gets the line of the page where its body starts.
    """
    text = PAGE.read_text()
    blocks = []
    for m in FENCE.finditer(text):
        indent, lang, arg, body = m.groups()
        body = "\n".join(line[len(indent) :] for line in body.splitlines())
        line = text.count("\n", 0, m.start(4))
        blocks.append((lang, arg.strip(), body, line) if with_lines else (lang, arg.strip(), body))
    return blocks


def section(title):
    """The text of the page's section headed ``title`` (up to the next heading)."""
    text = PAGE.read_text()
    start = text.index(f"### {title}\n")
    end = text.find("\n#", start + 1)
    return text[start:end]


def test_every_block_is_tested_or_a_picture():
    langs = [lang for lang, _, _ in fences()]
    assert "pycon" in langs and "{literalinclude}" in langs
    assert set(langs) <= {"text", "pycon", "{literalinclude}"}, langs


def test_sessions_run_as_doctests():
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    globs = {}
    for lang, _, body, line in fences(with_lines=True):
        if lang != "pycon":
            continue
        test = parser.get_doctest(body, globs, "developing.md", str(PAGE), line)
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 10
    assert result.failed == 0


INCLUDES = [(arg, body) for lang, arg, body in fences() if lang == "{literalinclude}"]


@pytest.mark.parametrize(
    "path, options", INCLUDES, ids=[f"{a}-{i}" for i, (a, _) in enumerate(INCLUDES)]
)
def test_includes_name_tested_code(path, options):
    target = (PAGE.parent / path).resolve()
    assert target.is_file()
    assert target.is_relative_to(ROOT / "tests" / "developing") or target.is_relative_to(PACKAGE)
    source = target.read_text()
    for line in options.splitlines():
        key, _, value = line.partition(": ")
        if key in (":start-at", ":end-at"):
            assert value.strip().strip('"') in source, (key, value)


def test_the_hooks_named_are_the_hooks_implemented():
    table = [row for row in section("What it implements").splitlines() if row.startswith("| ")]
    named = {name for row in table[1:] for name in re.findall(r"`(_\w+)", row.split("|")[2])}
    layers = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    implemented = {
        name
        for name, value in vars(MarginCentroidClassifier).items()
        if name.startswith("_")
        and not name.startswith("__")
        and (inspect.isfunction(value) or isinstance(value, property))
        and name in layers  # called by the layers, not a helper of the example's own
    }
    assert named == implemented
    assert len(named) == 6
