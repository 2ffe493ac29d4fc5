"""Low-rank lesson: truncated and randomized SVDs, latent-variable matrices, compressing the CNN."""
