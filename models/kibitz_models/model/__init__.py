"""The model: the MoD video-LLM, its checkpoints and the MoD variants built from one set of weights."""
