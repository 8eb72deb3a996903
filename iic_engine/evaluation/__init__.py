"""Evaluation: image-quality metrics and the dev-eval report (§4.2–4.3)."""
