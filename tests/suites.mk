# tests/suites.mk: the foundation suites (filled in by their author)
