# fortran/fortran.mk: filled in by its area
