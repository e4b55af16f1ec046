"""Viewers' own words: the phrasings a package's question classifier learns from, its features and the classifier."""
