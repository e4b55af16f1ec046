#!/bin/sh
# Run the Python toolkit's tests (for .ci/run). Needs Debian's python3-torch; installs what is
# missing from the same package list .ci/run uses.
set -e
cd "$(dirname "$0")/../.."
if ! /usr/bin/python3 -c "import torch, onnx, numpy, PIL" 2>/dev/null || [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    $(grep -v '^\s*#' .ci/apt-packages.txt | grep -v '^\s*$') >/dev/null
fi
exec /usr/bin/python3 -m unittest discover -s models/tests
