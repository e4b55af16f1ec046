"""Held-out evaluation and the probes and checks behind the numbers in models/EXPERIMENTS.md."""
