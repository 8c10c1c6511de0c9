#!/usr/bin/env bash
# Installs the Debian packages the test suite uses, skipping those already there.
# PyTorch (python3-torch, on OpenBLAS rather than the reference BLAS) is the reference for
# checkpoint files and numerics; Jupyter's own
# client, kernel tester, nbconvert and nbclient test the kernel (run with /usr/bin/python3);
# ipykernel is the reference kernel in benchmarks and runner tests; classic Notebook 6.4 and
# jupyter-console are the real clients the client tests drive; Chromium renders and checks
# the Plotly pages; Mesa's EGL/GL drivers give Dawn (WebGPU) a software adapter; pexpect drives
# jupyter console in a pseudo-terminal.
set -euo pipefail
packages=(
  python3-torch python3-torchvision libopenblas0-pthread
  python3-jupyter-client jupyter-client python3-jupyter-kernel-test jupyter-nbconvert python3-nbclient python3-ipykernel jupyter-core
  jupyter-notebook jupyter-console
  chromium
  libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 mesa-vulkan-drivers
  python3-pexpect
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "ensure-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "ensure-deps: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
