# lib/backend/hip.mk: filled in by its area
