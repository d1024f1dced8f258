#!/usr/bin/env bash
# Run here, on Debian 12, before scripts/device_check.sh goes to a GPU machine that has PyTorch
# but none of Debian's packages and no network: fetches the .deb files of advtk's other
# dependencies (CLI11, spdlog and fmt, nlohmann-json, stb, GoogleTest, zlib) and of the
# Fashion-MNIST data into .devdeps/ (git ignores it; ~34 MB), which the run carries there.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .devdeps
cd .devdeps
apt-get download libcli11-dev libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 nlohmann-json3-dev \
  libstb-dev libgtest-dev zlib1g-dev dataset-fashion-mnist
ls -l
