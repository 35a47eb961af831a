"""The files of a network directory, named once for the writer, the reader and the cache."""

WEIGHTS = "weights.safetensors"
CONFIG = "config.json"
CARD = "README.md"
PLOT = "accuracy.png"  # written by `ssmhub evaluate`, beside the accuracy it pictures
CORRECTION = "correction."  # prefix of the correction network's tensors
