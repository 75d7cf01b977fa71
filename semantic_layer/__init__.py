"""semantic_layer."""
