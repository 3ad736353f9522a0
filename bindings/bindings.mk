# bindings/bindings.mk: filled in by its area
