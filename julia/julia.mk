# julia/julia.mk: filled in by its area
