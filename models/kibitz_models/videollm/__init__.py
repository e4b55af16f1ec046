"""Import VideoLLM-online (showlab/videollm-online, live1+) checkpoints into kibitz packages.

  layout.py, specs.py   find the three folders (LLM, PEFT adapter, SigLIP) and check their configs
  safetensors_io.py     safetensors read (memory-mapped, per tensor) and write, shards
  lora.py, weights.py   the adapter's tensors; the model built without random init, LoRA merged
  siglip.py             the SigLIP tower + connector: vision.onnx
  graphs.py, manifest.py, importer.py   the package
  reference.py, replay.py               an independent reference over runtime traces, and the model driven alike
  tiny.py, tiny_tokenizer.py            tiny random checkpoints in the public layout, for tests
  prompt.py             what the reference code feeds around the frames
"""
