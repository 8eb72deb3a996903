"""Training: hole synthesis, data, losses (Eq. 1–3), the two stages and their loop.

Inference code never imports this package."""
