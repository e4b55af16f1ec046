"""kibitz_models: the MoD streaming video-LLM toolkit (model, synthetic world, training, export)."""
