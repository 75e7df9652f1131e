"""Notebook 08: every run side by side, the computed claims and the generated summary and model card."""
