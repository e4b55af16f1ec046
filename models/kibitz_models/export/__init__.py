"""A checkpoint -> a model package (models/CONTRACT.md): the ONNX graphs, the shared decoder weights, the in-world head carried over."""
