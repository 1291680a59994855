#!/bin/bash
# demo.sh - the main command of orcrt, from a fresh Debian 12 machine (as
# root): install the dependencies, build orcrt in ./build, then JIT the
# bundled example contrib/examples/hello.c into orcrt-executor, driven by
# llvm-jitlink-19 and by lli-19, and run a short C++ session of LLVM 22's
# REPL, clang-repl-22, in it; show what happens.
#
# Environment: ORCRT_BUILD_DIR (default: build/ at the top of the tree).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${ORCRT_BUILD_DIR:-$top/build}

echo "=== dependencies"
"$top/contrib/ci/deps.sh"

echo "=== build (in $build)"
(cd "$top" && autoreconf -fi >/dev/null 2>&1) || (cd "$top" && autoreconf -fi)
mkdir -p "$build"
cd "$build"
if ! "$top/configure" >configure.out 2>&1; then
	cat configure.out
	exit 1
fi
if ! make -j2 >make.out 2>&1; then
	cat make.out
	exit 1
fi
echo "built $build/src/executor/orcrt-executor"

executor=$build/src/executor/orcrt-executor
mkdir -p demo
clang-19 -c -O1 "$top/contrib/examples/hello.c" -o demo/hello.o
clang-19 -S -emit-llvm -O1 "$top/contrib/examples/hello.c" -o demo/hello.ll

# Show a command, run it, and show its exit status; main returns 42.
run() {
	printf '\n$'
	printf ' %q' "$@"
	printf '\n'
	set +e
	"$@"
	status=$?
	set -e
	echo "[exit status $status]"
	if [ "$status" -ne 42 ]; then
		echo "demo: expected exit status 42 (hello.c's main returns 42)" >&2
		exit 1
	fi
}

echo
echo "=== llvm-jitlink-19 links hello.o into orcrt-executor's memory and runs main there"
run llvm-jitlink-19 -oop-executor="$executor" demo/hello.o -args orcrt "out of process"

echo
echo "=== lli-19 compiles hello.ll (MCJIT) and runs it in orcrt-executor"
echo "    (lli prints a warning, and an empty line from its own teardown)"
run lli-19 -jit-kind=mcjit -remote-mcjit -mcjit-remote-process="$executor" demo/hello.ll

echo
echo "=== clang-repl-22, LLVM 22's C++ REPL, runs each input in orcrt-executor"
rt=/usr/lib/llvm-22/lib/clang/22/lib/linux/liborc_rt-x86_64.a
session='#include <cstdio>
#include <vector>
std::vector<int> v = {1, 2, 3};
v.push_back(36);
printf("v has %zu elements, the last %d\n", v.size(), v.back());
try { throw 42; } catch (int e) { printf("caught %d\n", e); }
%quit'
printf '\n$ clang-repl-22 --oop-executor=%q --orc-runtime=%q <<EOF\n%s\nEOF\n' "$executor" "$rt" "$session"
set +e
out=$(printf '%s\n' "$session" | clang-repl-22 --oop-executor="$executor" --orc-runtime="$rt")
status=$?
set -e
printf '%s\n' "$out"
echo "[exit status $status]"
if [ "$status" -ne 0 ] || ! grep -q 'v has 4 elements, the last 36' <<<"$out" ||
	! grep -q 'caught 42' <<<"$out"; then
	echo "demo: clang-repl-22 did not run the session in orcrt-executor" >&2
	exit 1
fi
