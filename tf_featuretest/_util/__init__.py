"""Small shared helpers below every other layer: argument checks, seeds, atomic files, the per-model cache."""
