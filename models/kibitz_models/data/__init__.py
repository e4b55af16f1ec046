"""Frames and sequences: the synthetic demo world, drawing and the service's decode chain, out-of-world clips, views, the temporal token drop, the tokenizer and training sequences."""
