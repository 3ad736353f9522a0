# examples/examples.mk: filled in by its area
