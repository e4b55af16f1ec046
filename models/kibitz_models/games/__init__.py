"""The games the toolkit can teach: the catalogue, chess, and recording a real game."""
