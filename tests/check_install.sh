#!/usr/bin/env bash
# Install the build into a scratch prefix, then build examples/consumer
# against it twice: through find_package(rcgc) (shared and static) and
# through pkg-config. Each consumer binary must run and print "ok".
set -euo pipefail
build=$1 consumer=$2 work=$3 cc=$4
rm -rf "$work"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null

cmake -S "$consumer" -B "$work/cmake" -G Ninja -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake" >/dev/null
"$work/cmake/consumer_shared" | grep -qx "ok"
"$work/cmake/consumer_static" | grep -qx "ok"
echo "find_package: shared and static consumers ran"

pc_dir=$(dirname "$(find "$prefix" -name rcgc.pc | head -n 1)")
export PKG_CONFIG_PATH=$pc_dir
libdir=$(pkg-config --variable=libdir rcgc)
# shellcheck disable=SC2046 # pkg-config output is a list of flags
"$cc" -std=c17 -Wall -Wextra -Werror "$consumer/main.c" -o "$work/consumer_pc" \
    $(pkg-config --cflags --libs rcgc) -Wl,-rpath,"$libdir"
"$work/consumer_pc" | grep -qx "ok"
echo "pkg-config: consumer built against rcgc $(pkg-config --modversion rcgc) ran"
