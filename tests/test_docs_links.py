"""The documentation a clone gets: every Markdown link in README.md and
docs/**/*.md points at a file (and, with ``#anchor``, a heading) that is in
the repository, and README links every page of docs/.

External links (http, https, mailto ...) are not checked. A link may not leave
the repository (``../`` above its root) nor start with ``/`` (a site path,
not a file). Code (fenced blocks and `spans`) is not read for links.
"""

import os
import re
import urllib.parse
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
# `](target)` or `](target "title")`: inline links and images, nested ones too.
INLINE = re.compile(r"\]\(\s*(<[^>\n]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
# `[label]: target` on a line of its own.
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>\n]*>|\S+)")
ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:[^>]*\s)?(?:id|name)=[\"']([^\"']+)[\"']", re.IGNORECASE)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose_lines(text: str):
    """(line number, line) outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)[0] * len(match.group(1))
            continue
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
            continue
        yield number, line


def markdown_links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every link and image in ``text``."""
    found = []
    for number, line in prose_lines(text):
        reference = REFERENCE.match(line)
        if reference:
            found.append((number, reference.group(1).strip("<>")))
            continue
        # A code span's text is not a link; a link's text may be a code span.
        line = CODE_SPAN.sub("code", line)
        found.extend((number, m.group(1).strip("<>")) for m in INLINE.finditer(line))
    return found


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text, lower case, without
    punctuation other than '-' and '_', each space a '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a Markdown file: its headings' slugs (a repeated one
    numbered -1, -2 ... as GitHub does) and explicit <a id/name>."""
    seen: dict[str, int] = {}
    result: set[str] = set()

    def add(heading: str) -> None:
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")

    previous = ""
    for _number, line in prose_lines(text):
        atx = ATX.match(line)
        if atx:
            add(atx.group(2))
        elif SETEXT.match(line) and previous.strip() and not previous.lstrip().startswith(("|", "-", "*", ">")):
            add(previous)
        result.update(HTML_ANCHOR.findall(line))
        previous = line if not atx else ""
    return result


def exists_exactly(root: Path, path: Path) -> bool:
    """Whether ``path`` (inside ``root``) exists with this exact case in every
    part: a clone on a case-sensitive file system finds it too."""
    current = root
    for part in path.relative_to(root).parts:
        if not current.is_dir() or part not in os.listdir(current):
            return False
        current = current / part
    return True


def link_problems(root: Path, page: Path) -> list[str]:
    """What is wrong with each link of the Markdown file ``page``."""
    root = root.resolve()
    text = page.read_text(encoding="utf-8")
    where = page.resolve().relative_to(root).as_posix()
    problems = []
    for number, target in markdown_links(text):
        if SCHEME.match(target):
            continue  # external: http(s), mailto ...
        path_part, _, anchor = target.partition("#")
        path_part = urllib.parse.unquote(path_part.split("?", 1)[0])
        anchor = urllib.parse.unquote(anchor)
        at = f"{where}:{number}: ({target})"
        if path_part.startswith("/"):
            problems.append(f"{at} starts with '/': link a file by its path relative to this page")
            continue
        resolved = (page.resolve().parent / path_part).resolve() if path_part else page.resolve()
        if not resolved.is_relative_to(root):
            problems.append(f"{at} leaves the repository")
            continue
        if not exists_exactly(root, resolved):
            problems.append(f"{at} no such file in the repository")
            continue
        if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text(encoding="utf-8")):
            problems.append(f"{at} no heading with the anchor #{anchor} in {resolved.relative_to(root).as_posix()}")
    return problems


def documentation(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("**/*.md"))]


def test_every_link_in_readme_and_docs_resolves():
    pages = documentation(ROOT)
    assert len(pages) > 1, "README.md and docs/ are the product's documentation"
    problems = [problem for page in pages for problem in link_problems(ROOT, page)]
    assert problems == []


def test_readme_links_every_page_of_docs():
    """A page that nothing links is a page nobody finds."""
    readme = ROOT / "README.md"
    linked = {
        (ROOT / urllib.parse.unquote(target.partition("#")[0])).resolve()
        for _number, target in markdown_links(readme.read_text(encoding="utf-8"))
        if not SCHEME.match(target)
    }
    unlinked = [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "docs").glob("*.md")) if p not in linked]
    assert unlinked == []


def test_the_product_rules_operations_and_architecture_are_documented():
    for name in ("rules.md", "operations.md", "architecture.md"):
        assert (ROOT / "docs" / name).is_file(), f"docs/{name}"


# --- The checker itself, on a repository made for the test ---


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_checker_finds_each_kind_of_broken_link(tmp_path):
    repo = tmp_path / "repo"
    write(repo / "docs" / "guide.md", "# Guide\n\n## The nightly run: `run_renewals`\n\nText.\n")
    write(repo / "core" / "money.py", "")
    write(tmp_path / "outside.md", "# Outside\n")
    readme = write(
        repo / "README.md",
        "\n".join(
            [
                "# Readme",  # 1
                "[guide](docs/guide.md) [money](core/money.py) [self](#readme)",  # 2: fine
                "[run](docs/guide.md#the-nightly-run-run_renewals) ![img](<docs/guide.md>)",  # 3: fine
                "[`faults`](docs/faults.md)",  # 4: missing file
                "[anchor](docs/guide.md#no-such-heading)",  # 5: missing anchor
                "[out](../outside.md)",  # 6: leaves the repository
                "[site](/admin/status/) [web](https://example.com/x.md) [mail](mailto:a@b.c)",  # 7: '/'
                "`[in code](docs/nothing.md)` and [Case](docs/Guide.md)",  # 8: wrong case
                "```",
                "[in a fence](docs/nothing.md)",
                "```",
                "[ref]: docs/missing.md",  # 12
            ]
        )
        + "\n",
    )
    problems = link_problems(repo, readme)
    assert [p.split(" ", 1)[0] for p in problems] == [
        "README.md:4:",
        "README.md:5:",
        "README.md:6:",
        "README.md:7:",
        "README.md:8:",
        "README.md:12:",
    ]
    assert "no such file" in problems[0]
    assert "no heading with the anchor #no-such-heading" in problems[1]
    assert "leaves the repository" in problems[2]
    assert "starts with '/'" in problems[3]


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("The nightly run", "the-nightly-run"),
        ("`run_renewals --json`: the report", "run_renewals---json-the-report"),
        ("Money, balances & invoices", "money-balances--invoices"),
        ("[Faults](faults.md) and *what to do*", "faults-and-what-to-do"),
        ("7/30 windows", "730-windows"),
    ],
)
def test_heading_anchors_are_githubs(heading, expected):
    assert slug(heading) == expected


def test_repeated_headings_are_numbered():
    assert {"example", "example-1", "example-2"} <= anchors("## Example\n\n## Example\n\n### Example\n")
