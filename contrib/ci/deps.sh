#!/bin/sh
# deps.sh - install what building, testing and the demo of orcrt need on a
# fresh Debian 12 machine (run as root). Safe to run again: when everything
# is there already it changes nothing and needs no network.
set -eu

# Building: the toolchain, autotools, libevent, libseccomp (the sandbox), Check. The end-to-end tests
# and the demo: LLVM 19 (llvm-jitlink-19, lli-19, lli-child-target), clang-19
# (with libstdc++ headers for the C++ test program) and clang's runtime
# libraries (libclang-rt-19-dev also has libFuzzer, for the fuzzers). The
# version suite: the other releases Debian 12 ships, each with its clang and
# its ORC runtime (15's is in libclang-common-15-dev; llvm-22 comes from
# bookworm-security), and clang-repl-22 (clang-tools-22, only a Recommends
# of clang-22). The manual pages' lint test: groff. The executor's leak
# check: valgrind. The debugger test: gdb. The profiling test: perf
# (linux-perf; it runs only where perf record may sample). The SQLite test
# fetches its source with npm.
packages="build-essential autoconf automake libtool autoconf-archive pkg-config
libevent-dev libseccomp-dev check llvm-19 clang-19 libclang-rt-19-dev
llvm-14 clang-14 libclang-rt-14-dev llvm-15 clang-15 libclang-common-15-dev
llvm-16 clang-16 libclang-rt-16-dev llvm-22 clang-22 libclang-rt-22-dev clang-tools-22
groff-base valgrind gdb linux-perf"

missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
# Any npm will do (Debian's, or one that came with a nodejs from elsewhere).
command -v npm >/dev/null 2>&1 || missing="$missing npm"

if [ -z "$missing" ]; then
	echo "deps: all installed"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing:$missing; run this script as root to install them" >&2
	exit 1
fi
echo "deps: installing$missing"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086 # one word per package
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends $missing; } >"$log" 2>&1; then
	cat "$log" >&2
	echo "deps: apt-get failed" >&2
	exit 1
fi
echo "deps: done"
