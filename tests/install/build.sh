#!/bin/sh
# SPDX-License-Identifier: MIT
# Build and run tests/install/main.c against libipc installed in PREFIX,
# once through pkg-config and once through CMake's find_package.
# usage: build.sh PREFIX WORKDIR
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 PREFIX WORKDIR" >&2
    exit 2
fi
prefix=$(cd "$1" && pwd)
work=$2
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
mkdir -p "$work"

# libdir is lib, lib64 or lib/<multiarch> depending on the platform.
pcfile=$(find "$prefix" -name libipc.pc -path '*/pkgconfig/*' | head -n 1)
if [ -z "$pcfile" ]; then
    echo "no libipc.pc under $prefix" >&2
    exit 1
fi

echo "-- pkg-config ($pcfile)"
export PKG_CONFIG_PATH="$(dirname "$pcfile")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
libdir=$(pkg-config --variable=libdir libipc)
echo "   cflags: $(pkg-config --cflags libipc)"
echo "   libs:   $(pkg-config --libs libipc)"
# shellcheck disable=SC2046 # word splitting of the flags is intended
"$cc" -std=c11 -Wall -Wextra -Werror "$here/main.c" -o "$work/pc_shared" \
    $(pkg-config --cflags --libs libipc) -Wl,-rpath,"$libdir"
"$work/pc_shared"
# A static link: libipc.a plus the Libs.private that pkg-config --static
# adds (-pthread -lrt); -Bstatic only around -lipc so libc stays shared.
static_libs=
for flag in $(pkg-config --static --libs libipc); do
    case $flag in
    -lipc) flag="-Wl,-Bstatic -lipc -Wl,-Bdynamic" ;;
    esac
    static_libs="$static_libs $flag"
done
# shellcheck disable=SC2046,SC2086
"$cc" -std=c11 -Wall -Wextra -Werror "$here/main.c" -o "$work/pc_static" \
    $(pkg-config --cflags libipc) $static_libs
"$work/pc_static"

echo "-- find_package (CMAKE_PREFIX_PATH=$prefix)"
cmake -S "$here" -B "$work/cmake" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >"$work/cmake.log" ||
    { cat "$work/cmake.log"; exit 1; }
cmake --build "$work/cmake"
"$work/cmake/consumer_shared"
"$work/cmake/consumer_static"
