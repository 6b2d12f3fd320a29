"""The documentation (README.md and docs/*.md) holds as written.

* Every relative link resolves: the file exists, and a ``#anchor`` names a heading of that page under GitHub's rules.
* Every command shown, in a code block or in inline code, parses with the real parser of the program it names:
  ``spikeloc ...`` with the ``spikeloc`` command's parser, ``python studies/NAME.py ...`` and
  ``python benchmarks/NAME.py ...`` with the parser that script's ``main`` builds, ``make TARGET`` against the
  Makefile's targets. Nothing is run: the parser is taken from the program as it starts to parse
  (:func:`parser_for`, the one place that maps a command to its parser). A synopsis is expanded: each ``[...]``
  group alone on the required words, ``a|b`` alternatives each at least once, placeholders (``N``, ``DIR``,
  ``model.pt``) replaced by values that exist.
* The Python examples run (shortened: fewer epochs and samples).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import importlib.util
import io
import re
import shlex
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]


def pages() -> list[Path]:
    return [REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").glob("*.md"))]


def shown(page: Path) -> str:
    return str(page.relative_to(REPOSITORY)) if page.is_relative_to(REPOSITORY) else str(page)


# ---- reading Markdown ------------------------------------------------------------------------------------------

FENCE = re.compile(r"^ {0,3}(```+|~~~+)\s*([\w+-]*)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")


@dataclass(frozen=True)
class Block:
    """A fenced code block: its info string (``bash``, ``python``, or empty), first line number and text."""
    language: str
    line: int
    text: str


def split_markdown(markdown: str) -> tuple[list[Block], list[tuple[int, str]]]:
    """The fenced code blocks, and the other lines (numbered from 1) with the blocks left out."""
    blocks, prose, fence, body = [], [], None, []
    for number, line in enumerate(markdown.splitlines(), 1):
        opening = FENCE.match(line)
        if fence is None and opening:
            fence, language, start, body = opening.group(1), opening.group(2), number + 1, []
        elif fence is not None and re.fullmatch(rf" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*", line):
            blocks.append(Block(language, start, "\n".join(body)))
            fence = None
        elif fence is not None:
            body.append(line)
        else:
            prose.append((number, line))
    return blocks, prose


# ---- links and GitHub's anchors --------------------------------------------------------------------------------

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.I)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading (github-slugger): the rendered text lower-cased, every character but
    letters, marks, numbers, ``_``, ``-`` and spaces removed, spaces turned into ``-``."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)          # a link reads as its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")               # HTML tags and code marks
    text = re.sub(r"(\*+|(?<!\w)_+|_+(?!\w))", "", text)                # emphasis, not snake_case
    kept = "".join(c for c in text.strip().lower()
                   if c in " -_" or unicodedata.category(c)[0] in "LMN")
    return kept.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every anchor of a page: its headings' slugs (a repeated slug gets -1, -2, ...) and HTML anchors."""
    _, prose = split_markdown(markdown)
    found, seen = set(), Counter()
    for _, line in prose:
        heading = HEADING.match(line)
        if heading:
            slug = github_slug(heading.group(2))
            found.add(slug if seen[slug] == 0 else f"{slug}-{seen[slug]}")
            seen[slug] += 1
        found.update(HTML_ANCHOR.findall(line))
    return found


def link_targets(markdown: str) -> list[tuple[int, str]]:
    """(line, target) of every link and image outside code."""
    _, prose = split_markdown(markdown)
    targets = []
    for number, line in prose:
        line = INLINE_CODE.sub("code", line)
        targets += [(number, target) for target in LINK.findall(line)]
        targets += [(number, target) for target in REFERENCE.findall(line)]
    return targets


def broken_links(page: Path) -> list[str]:
    """What is wrong with the page's relative links, one line each (nothing when all resolve)."""
    problems = []
    for number, target in link_targets(page.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:|^//", target, re.I):  # http:, mailto:, ...: not relative
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / unquote(path)).resolve() if path else page
        where = f"{shown(page)}:{number}: {target}"
        if not file.exists():
            problems.append(f"{where}: {path} does not exist")
        elif anchor and file.suffix != ".md":
            problems.append(f"{where}: an anchor into {file.name}, which has no headings")
        elif anchor and unquote(anchor) not in anchors(file.read_text()):
            problems.append(f"{where}: {file.name} has no heading #{anchor}")
    return problems


# ---- commands shown in the docs ---------------------------------------------------------------------------------

COMMAND_START = re.compile(r"^(?:[A-Za-z_]\w*=\S*\s+)*(?:time\s+)?"  # environment, time
                           r"(spikeloc\s|python3?\s+(studies/|benchmarks/|-m\s+spikeloc\b)|make\b)")


@dataclass(frozen=True)
class Command:
    """A command as the docs show it, and where."""
    where: str
    text: str


def commands_in(page: Path) -> list[Command]:
    """The ``spikeloc`` (or ``python -m spikeloc``), ``python studies/...``, ``python benchmarks/...`` and ``make``
    commands a page shows: lines of its non-Python code blocks (indented lines and lines after a trailing backslash
    continue a command) and inline code in its text."""
    blocks, prose = split_markdown(page.read_text())
    name = shown(page)
    found = []
    for block in blocks:
        if block.language in ("python", "py", "pycon"):
            continue
        current = None
        for offset, line in enumerate(block.text.splitlines()):
            if current is not None and (current.text.endswith("\\") or line[:1].isspace()):
                current = Command(current.where, current.text.removesuffix("\\") + " " + line.strip())
                found[-1] = current
            elif COMMAND_START.match(line.strip().removeprefix("$ ")):
                current = Command(f"{name}:{block.line + offset}", line.strip().removeprefix("$ "))
                found.append(current)
            else:
                current = None
    for number, line in prose:
        link_texts = [match.span(1) for match in re.finditer(r"\[([^\]]*)\]\(", line)]
        for code in INLINE_CODE.finditer(line):
            if any(start <= code.start() < end for start, end in link_texts):
                continue  # a command's name as a link to where it is described, not a command line
            text = code.group(2).strip().replace("\\|", "|")
            if COMMAND_START.match(text):
                found.append(Command(f"{name}:{number}", text))
    return found


def words_of(text: str) -> list[list[str]]:
    """A shell line as the commands it runs: words, comments dropped, split at ``&&`` and ``;``, environment
    assignments and ``time`` in front left out."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars="&;")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands, words = [], []
    for word in [*lexer, ";"]:
        if word in ("&&", ";", "&"):
            commands.append(words)
            words = []
        elif not words and (re.match(r"^[A-Za-z_]\w*=", word) or word == "time"):
            continue
        else:
            words.append(word)
    return [words for words in commands if words]


PLACEHOLDER = re.compile(r"\b[A-Z][A-Z0-9_]*\b")
#: What a placeholder stands for; any other (N, K, LR, HOST ...) stands for a number, 1.
PLACEHOLDER_VALUES = {"DIR": "dir", "OUT": "dir", "FILE": "file.pt", "PATH": "file.pt", "MODEL": "model.pt"}
FILE_WORD = re.compile(r"^[\w.-][\w./-]*\.(pt|nir|json|csv|h5)$")


def synopsis_variants(words: list[str]) -> list[list[str]]:
    """Concrete command lines for a synopsis: the required words alone, and with each ``[...]`` group in its place
    (nested brackets count as their outer group); each ``a|b|c`` word takes every alternative in turn (the i-th
    line its i-th, cycling); ``...`` is dropped; placeholders are replaced (:data:`PLACEHOLDER_VALUES`)."""
    items, depth = [], 0  # (group number or None, word)
    groups = 0
    for word in words:
        opens = len(word) - len(word.lstrip("["))
        if depth == 0 and opens:
            groups += 1
        depth += opens
        bare = word.strip("[]")
        if bare and bare != "...":
            items.append((groups if depth else None, bare))
        depth -= len(word) - len(word.rstrip("]"))
        assert depth >= 0, f"unbalanced ']' in {' '.join(words)!r}"
    assert depth == 0, f"unbalanced '[' in {' '.join(words)!r}"
    variants = []
    for chosen in [None, *range(1, groups + 1)]:
        line = [word for group, word in items if group is None or group == chosen]
        alternatives = [word.split("|") if "|" in word and not word.startswith("-") else [word] for word in line]
        for i in range(max(len(options) for options in alternatives)):
            variants.append([options[i % len(options)] for options in alternatives])
    filled = [[PLACEHOLDER.sub(lambda m: PLACEHOLDER_VALUES.get(m.group(), "1"), word) for word in line]
              for line in variants]
    return [list(line) for line in dict.fromkeys(map(tuple, filled))]


class _Parsing(Exception):
    """Raised instead of parsing: carries the parser a program built."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__(parser.prog)
        self.parser = parser


PARSE_ARGS = argparse.ArgumentParser.parse_args


def parser_built_by(main: Callable[[], object]) -> argparse.ArgumentParser:
    """The parser a program's ``main`` builds, taken as it starts to parse (before any work)."""
    original = argparse.ArgumentParser.parse_args

    def capture(self, *args, **kwargs):
        raise _Parsing(self)

    argparse.ArgumentParser.parse_args = capture
    try:
        main()
    except _Parsing as parsing:
        return parsing.parser
    finally:
        argparse.ArgumentParser.parse_args = original
    raise AssertionError(f"{main} returned without parsing a command line")


@functools.cache
def script_parser(script: Path) -> argparse.ArgumentParser:
    """The parser of a study or benchmark script (imported under a private name, its directory on the path)."""
    name = f"_docs_{script.parent.name}_{script.stem}"
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    path = list(sys.path)
    sys.path.insert(0, str(script.parent))
    try:
        spec.loader.exec_module(module)
        return parser_built_by(module.main)
    finally:
        sys.path[:] = path  # as before, also where the script added to it


@functools.cache
def spikeloc_parser() -> argparse.ArgumentParser:
    from spikeloc import cli

    return parser_built_by(lambda: cli.main([]))


@functools.cache
def study_parser(name: str) -> argparse.ArgumentParser:
    """The parser of ``spikeloc study NAME``: the study module's own (``spikeloc.studies.NAME.parser()``)."""
    from spikeloc import studies

    assert name in studies.NAMES, f"no study {name!r}"
    return importlib.import_module(f"spikeloc.studies.{name}").parser()


PYTHON_M = ["python", "-m", "spikeloc"]


def parser_for(words: list[str]) -> tuple[argparse.ArgumentParser, list[str]] | None:
    """The parser of the program a command names and the arguments it gets, or None for a command of another
    program. A study or benchmark script that does not exist is an AssertionError."""
    if words[:3] == PYTHON_M:
        words = ["spikeloc", *words[3:]]
    if words[:2] == ["spikeloc", "study"] and len(words) > 2 and not words[2].startswith("-"):
        return study_parser(words[2]), words[3:]  # the study's own options, not the REMAINDER that carries them
    if words[0] == "spikeloc":
        return spikeloc_parser(), words[1:]
    if words[0] in ("python", "python3") and len(words) > 1 and words[1].startswith(("studies/", "benchmarks/")):
        script = REPOSITORY / words[1]
        assert script.is_file(), f"{words[1]} does not exist"
        return script_parser(script), words[2:]
    return None


def parse_error(parser: argparse.ArgumentParser, arguments: list[str]) -> str | None:
    """What argparse says against ``arguments`` (None when they parse, or ask for --help). The checks of
    ``spikeloc.options.Parser`` that need the machine (is dask installed, does a scheduler answer) are not run."""
    with contextlib.redirect_stderr(io.StringIO()) as stderr, contextlib.redirect_stdout(io.StringIO()):
        try:
            PARSE_ARGS(parser, arguments)
        except SystemExit as stop:
            return None if stop.code in (0, None) else stderr.getvalue().strip().splitlines()[-1]
    return None


def make_targets() -> set[str]:
    return set(re.findall(r"^([\w.-]+)\s*:(?!=)", (REPOSITORY / "Makefile").read_text(), flags=re.M))


def command_problems(command: Command, extra: list[str] = ()) -> list[str]:
    """What is wrong with a command as shown (with ``extra`` arguments appended), one line per failing line."""
    problems = []
    for words in words_of(command.text):
        if words[0] == "make":
            unknown = [word for word in words[1:] if "=" not in word and word not in make_targets()]
            problems += [f"{command.where}: {command.text}: no make target {word!r}" for word in unknown]
            continue
        if words in (["spikeloc"], PYTHON_M):
            continue  # the program named, not run
        if words[0].startswith("python") and len(words) > 1 and PLACEHOLDER.search(words[1]):
            scripts = sorted(REPOSITORY.glob(PLACEHOLDER.sub("*", words[1])))  # studies/NAME.py: every study
            expanded = [[words[0], str(script.relative_to(REPOSITORY)), *words[2:]] for script in scripts]
            assert expanded, f"{command.where}: no file matches {words[1]}"
        elif "study" in words[:4] and words[words.index("study") + 1:][:1] == ["NAME"]:  # spikeloc study NAME: each
            from spikeloc import studies

            at = words.index("study") + 1
            expanded = [[*words[:at], name, *words[at + 1:]] for name in studies.NAMES]
        else:
            expanded = [words]
        for concrete in expanded:
            for line in synopsis_variants(concrete):
                try:
                    found = parser_for(line)
                except AssertionError as error:
                    problems.append(f"{command.where}: {command.text}: {error}")
                    continue
                if found is None:
                    continue
                parser, arguments = found
                if extra:  # --help or --version would end the parse before the extra arguments are refused
                    arguments = [word for word in arguments if word not in ("--help", "-h", "--version")]
                for word in arguments:
                    if FILE_WORD.match(word) and not Path(word).is_absolute():
                        Path(word).parent.mkdir(parents=True, exist_ok=True)
                        Path(word).touch()
                error = parse_error(parser, [*arguments, *extra])
                if error:
                    problems.append(f"{command.where}: {' '.join(line + list(extra))}: {error}")
    return problems


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """Parse in an empty directory (placeholders become files and directories there), as on a machine with GPUs
    (``--device cuda`` is spelled right; whether the machine has one is not the docs' business)."""
    import torch

    monkeypatch.chdir(tmp_path)
    (tmp_path / "dir").mkdir()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    return tmp_path


# ---- the tests ---------------------------------------------------------------------------------------------------

def test_every_relative_link_resolves():
    problems = [problem for page in pages() for problem in broken_links(page)]
    assert not problems, "\n".join(problems)


def test_every_command_shown_parses(scratch):
    commands = [command for page in pages() for command in commands_in(page)]
    programs = {tuple(words[:2]) for command in commands for words in words_of(command.text)}
    assert {("spikeloc", "train-ipd"), ("python", "studies/robustness.py"), ("make", "test")} <= programs
    problems = [problem for command in commands for problem in command_problems(command)]
    assert not problems, "\n".join(problems)


def test_an_unknown_option_fails_every_command_shown(scratch):
    """The check can fail: every command shown, with an option its program does not have, is refused."""
    commands = [command for page in pages() for command in commands_in(page)
                if not command.text.startswith("make") and command.text.split() not in (["spikeloc"], PYTHON_M)]
    assert len(commands) > 50
    passed = [command for command in commands if not command_problems(command, extra=["--no-such-option"])]
    assert not passed, "\n".join(f"{command.where}: {command.text}" for command in passed)


def test_the_checker_on_examples(scratch):
    def problems(text: str) -> list[str]:
        return command_problems(Command("example", text))

    assert problems("spikeloc train-ipd [--hidden H] [--lr-schedule constant|cosine|linear] [--save model.pt]") == []
    assert problems("spikeloc export-nir --model model.pt [--member K] out.nir  # a comment") == []
    assert problems("python studies/NAME.py --preset quick [--out DIR] [--device cpu|cuda:N]") == []
    assert problems("make TEST_WORKERS=1 test && spikeloc eval-ipd --model m.pt --json") == []
    assert problems("spikeloc train-ipd --hiden 30")                    # misspelt option
    assert problems("python -m spikeloc train-ipd --hiden 30")
    (bad,) = problems("spikeloc train-ipd [--phase-offset per_dataset|per_sample|sometimes]")  # one bad alternative
    assert "--phase-offset sometimes" in bad
    (bad,) = problems("spikeloc train-digits [--hidden 200 ...] [--steps T] [--encodings rate]")  # one bad group
    assert "unrecognized arguments: --encodings rate" in bad
    assert problems("python studies/robustness.py --preset quik")      # not a choice
    assert problems("python studies/no_such_study.py --preset quick")
    assert problems("spikeloc study robustness --preset quick [--out DIR]") == []
    assert problems("spikeloc study robustness --preset quik")          # the study's parser, not REMAINDER
    assert problems("python -m spikeloc study dales_law --no-such-option")
    assert problems("spikeloc study no_such_study --preset quick")
    assert problems("spikeloc study NAME --preset quick [--out DIR]") == []
    from spikeloc import studies

    assert len(problems("spikeloc study NAME --preset quik")) == len(studies.NAMES)  # every study's parser refuses it
    assert problems("python benchmarks/bench_epoch.py --repeats many")  # not an integer
    assert problems("make no-such-target")
    assert synopsis_variants("spikeloc a [--x X|Y] [--y [--z N]] b|c".split()) == [
        ["spikeloc", "a", "b"], ["spikeloc", "a", "c"], ["spikeloc", "a", "--x", "1", "b"],
        ["spikeloc", "a", "--x", "1", "c"], ["spikeloc", "a", "--y", "--z", "1", "b"],
        ["spikeloc", "a", "--y", "--z", "1", "c"]]


def test_links_and_anchors_follow_github(tmp_path):
    assert github_slug("IPD: the seed's experiment") == "ipd-the-seeds-experiment"
    assert github_slug("`spikeloc train-ipd`") == "spikeloc-train-ipd"
    assert github_slug("Side by side with [pytorch-bio](https://x.org) 0.0.5 — *fast*") == \
        "side-by-side-with-pytorch-bio-005--fast"
    assert github_slug("tau_s and β ≥ 1") == "tau_s-and-β--1"
    page = tmp_path / "page.md"
    other = tmp_path / "other.md"
    other.write_text("# Title\n## Part\n## Part\n```\n# not a heading\n```\n")
    assert anchors(other.read_text()) == {"title", "part", "part-1"}
    page.write_text("[a](other.md) [b](other.md#part-1) [c](#here) ![d](other.md#title)\n# Here\n"
                    "`[e](missing.md)` and [f](https://example.org/x.md)\n")
    assert broken_links(page) == []
    page.write_text("[a](missing.md) [b](other.md#part-2) [c](#nowhere) [d](other.md#not-a-heading)\n")
    assert len(broken_links(page)) == 4


# ---- the Python examples run --------------------------------------------------------------------------------------

#: Pages whose Python examples run, with what to shorten (each must be there) and how many accuracies they print.
EXAMPLES = {"docs/library.md": ({"epochs=10": "epochs=1", "epochs=30": "epochs=1", "4096": "512"}, 3)}
#: Pages whose Python example is one of those, word for word but for comments: it runs there.
SAME_EXAMPLE = {"README.md": "docs/library.md"}


def without_comments(code: str) -> str:
    return re.sub(r"[ \t]*#.*", "", code).strip()


def python_blocks(name: str) -> list[str]:
    return [block.text for block in split_markdown((REPOSITORY / name).read_text())[0] if block.language == "python"]


def test_every_python_example_runs_or_is_one_that_does():
    with_examples = {shown(page) for page in pages() if python_blocks(shown(page))}
    assert with_examples == set(EXAMPLES) | set(SAME_EXAMPLE)
    for name, runs_in in SAME_EXAMPLE.items():
        (example,) = python_blocks(name)
        assert without_comments(example) in map(without_comments, python_blocks(runs_in))


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_python_examples_run(name, tmp_path, monkeypatch, capsys):
    """A page's Python blocks run in order as one script (later blocks continue earlier ones)."""
    shorter, printed_count = EXAMPLES[name]
    code = "\n".join(python_blocks(name))
    for long, short in shorter.items():
        assert long in code
        code = code.replace(long, short)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(REPOSITORY / name), "exec"), {})
    printed = [float(line) for line in capsys.readouterr().out.split()]
    assert len(printed) == printed_count and all(0 <= acc <= 1 for acc in printed)
    assert printed[1] > 0.5 and printed[2] > 0.5  # one epoch on MNIST-5k already learns, with plasticity too
    assert (tmp_path / "mnist.pt").is_file()
