#!/bin/sh
# Run the Python toolkit's tests (for .ci/run). Needs Debian's python3-torch; installs what is missing.
set -e
cd "$(dirname "$0")/../.."
if ! /usr/bin/python3 -c "import torch, onnx, numpy, PIL" 2>/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch python3-onnx python3-numpy python3-pil \
    libopenblas0-pthread ffmpeg fonts-dejavu-core >/dev/null
fi
exec /usr/bin/python3 -m unittest discover -s models/tests
