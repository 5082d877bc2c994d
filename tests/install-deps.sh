#!/bin/sh
# Install what the test suite needs on Debian 12: a C compiler and make,
# cmocka, clang with libFuzzer and the sanitizer runtimes, pkg-config.
# Uses sudo when not run as root.
set -eu
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    build-essential pkg-config libcmocka-dev \
    clang libclang-rt-14-dev llvm \
    valgrind >/dev/null
echo "install-deps: done"
