#!/usr/bin/env python3
"""check-doc-links.py: every documentation page the sources cite exists.

Scans the text files of the source tree (lib, include, fortran, julia,
bindings, tests, bench, examples, docs and the top-level build files) for

  - paths under docs/ ("docs/abi.md"): the file must exist;
  - bare names of the project's pages ("abi.md", "conventions.md A3"; the
    pages are listed in PAGES): the page must exist in docs/ (other bare
    names, such as README.md or the specs of shared/, are not checked);
  - a section label after a page name ("conventions.md A3"): the page must
    have a heading that starts with that label ("## A3. ...");
  - a quoted section title after a page name ('conventions.md A3,
    "Convolution TPs"'): the page must have a heading with that title;
  - relative Markdown links in .md files ("[abi](abi.md#2-...)"): the target
    must exist, and an anchor must match a heading of the target.

Before scanning, the checker runs itself on text with citations that must
fail, so a broken pattern cannot pass silently. Plain exit-code test:
0 pass, 1 fail.
"""
import os
import re
import sys

SRCDIR = os.environ.get("OEQ_SRCDIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SCAN_DIRS = ["lib", "include", "fortran", "julia", "bindings", "tests", "bench", "examples", "docs"]
SCAN_TOP = ["README.md", "configure.ac", "Makefile.am"]
SKIP_DIRS = {"node_modules", "__pycache__", ".libs", ".deps", ".git"}
# The pages of docs/, which comments cite by bare name. A page added to
# docs/ goes here too, so that its bare citations are checked.
PAGES = {"abi.md", "conventions.md", "design.md", "style.md"}

# A citation starts at a word boundary that is not part of a longer path or
# URL ("e3nn/docs/guide.rst" and "https://.../docs/x" are someone else's).
DOCS_PATH = re.compile(r"(?<![\w./-])(docs/[\w./-]*\w)")
BARE_PAGE = re.compile(r"(?<![\w./-])([\w-]+\.md)\b")
SECTION = re.compile(r"(?<![\w./-])(?:docs/)?([\w-]+\.md)\s+(?:§\s*)?(A\d+)\b")
TITLE = re.compile(r"(?<![\w./-])(?:docs/)?([\w-]+\.md)(?:\s+A\d+)?,\s+\"([^\"\n]+)\"")
MD_LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    out, fence = [], False
    for line in lines:
        if line.startswith("```"):
            fence = not fence
        elif not fence and re.match(r"#{1,6}\s", line):
            out.append(line.lstrip("#").strip())
    return out


class Tree:
    """The source tree: which files exist."""

    def __init__(self, root):
        self.root = root

    def exists(self, rel):
        return os.path.exists(os.path.join(self.root, rel))

    def page(self, name):
        """The path of page `name` under docs/, or None if there is none."""
        rel = os.path.join("docs", name)
        return os.path.join(self.root, rel) if self.exists(rel) else None


def check_text(tree, where, text, is_markdown, base_dir):
    """Problems of one file's text, as 'where:line: message' strings."""
    problems = []

    def line_of(pos):
        return text.count("\n", 0, pos) + 1

    for m in DOCS_PATH.finditer(text):
        rel = m.group(1).rstrip(".")
        if not tree.exists(rel):
            problems.append(f"{where}:{line_of(m.start())}: cites {rel}, which does not exist")
    for m in BARE_PAGE.finditer(text):
        name = m.group(1)
        if m.start() >= 5 and text[m.start() - 5:m.start()] == "docs/":
            continue  # checked as a path above
        if name in PAGES and tree.page(name) is None:
            problems.append(f"{where}:{line_of(m.start())}: cites {name}, which is not in docs/")
    for m in SECTION.finditer(text):
        page = tree.page(m.group(1))
        if page is None:
            continue  # reported above if it is missing; other pages have no labels
        label = m.group(2)
        if not any(re.match(re.escape(label) + r"\b", h) for h in headings(page)):
            problems.append(f"{where}:{line_of(m.start())}: cites {m.group(1)} {label}, a section it does not have")
    for m in TITLE.finditer(text):
        page = tree.page(m.group(1))
        if page is None:
            continue
        title = m.group(2)
        if not any(title.lower() in h.lower() for h in headings(page)):
            problems.append(f'{where}:{line_of(m.start())}: cites {m.group(1)} "{title}", a section it does not have')
    if is_markdown:
        for m in MD_LINK.finditer(text):
            target = m.group(1)
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # URLs; anchors into the same page are not cited paths
            path, _, anchor = target.partition("#")
            full = os.path.normpath(os.path.join(base_dir, path))
            if not os.path.exists(full):
                problems.append(f"{where}:{line_of(m.start())}: links to {target}, which does not exist")
            elif anchor and full.endswith(".md") and anchor not in {slug(h) for h in headings(full)}:
                problems.append(f"{where}:{line_of(m.start())}: links to {target}, a heading {path} does not have")
    return problems


def self_test(tree):
    """The patterns must flag citations that cannot resolve."""
    missing = "docs/" + "no-such-page.md"
    bad = ("see " + missing + "\n" + "conventions.md" + " A" + "99\n" + "[x](" + "no-such-" + "page.md)\n")
    found = check_text(tree, "self-test", bad, True, os.path.join(tree.root, "docs"))
    need = ["cites " + missing, "A99", "links to no-such-page.md"]
    return [n for n in need if not any(n in p for p in found)]


def main():
    tree = Tree(SRCDIR)
    if not tree.exists("docs"):
        print(f"FAIL: {SRCDIR}/docs does not exist")
        return 1
    if tree.page("conventions.md") is not None:
        unflagged = self_test(tree)
        if unflagged:
            print("FAIL: the checker did not flag its own bad citations: " + ", ".join(unflagged))
            return 1
    files = [os.path.join(SRCDIR, t) for t in SCAN_TOP if tree.exists(t)]
    for d in SCAN_DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(SRCDIR, d)):
            dirnames[:] = [x for x in dirnames if x not in SKIP_DIRS]
            files += [os.path.join(dirpath, f) for f in filenames]
    problems, scanned = [], 0
    for path in sorted(files):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            problems.append(f"{path}: cannot read ({e})")
            continue
        if b"\0" in data:
            continue  # binary (fixtures, images)
        text = data.decode("utf-8", errors="replace")
        rel = os.path.relpath(path, SRCDIR)
        scanned += 1
        problems += check_text(tree, rel, text, path.endswith(".md"), os.path.dirname(path))
    print(f"scanned {scanned} files under {os.path.normpath(SRCDIR)}")
    for p in problems:
        print("FAIL: " + p)
    if problems:
        return 1
    print("PASS: every cited docs/ page, section and link resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
