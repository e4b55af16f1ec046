"""Training: the CPU recipe, variants trained alike, vision pre-training, the in-world head, continuing from a package."""
