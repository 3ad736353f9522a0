# docs/docs.mk: the project's documentation, installed under $(docdir)
# (share/doc/oeq) and distributed, and the check that every docs/ page,
# section and link the sources cite exists.
dist_doc_DATA = docs/abi.md docs/conventions.md docs/design.md docs/style.md
TESTS += tests/check-doc-links.py
EXTRA_DIST += tests/check-doc-links.py
