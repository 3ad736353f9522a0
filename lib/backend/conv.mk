# lib/backend/conv.mk: filled in by its area
