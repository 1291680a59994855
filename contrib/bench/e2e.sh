#!/bin/bash
# e2e.sh - end-to-end wall time of llvm-jitlink-19 running real programs
# out of process, through orcrt-executor and through LLVM's
# llvm-jitlink-executor
#
# usage: contrib/bench/e2e.sh [BUILD_DIR]
#
# BUILD_DIR is a configured and built orcrt tree (default: $ORCRT_BUILD_DIR,
# else build/ at the top of the source tree). The programs: the bundled
# example (contrib/examples/hello.c), the C++ exceptions program of the
# end-to-end tests (tests/programs/exceptions.cpp) and SQLite (the driver of
# the end-to-end tests with the amalgamation from the npm registry's
# better-sqlite3, as contrib/ci/test.sh fetches it: $SQLITE_DIR if set, else
# test.sh's copy under BUILD_DIR/sqlite if present, else npm fetches one into
# a temporary directory; without any, the SQLite row is skipped). Each is compiled once
# with clang-19 -O1 (SQLite linked into one object with ld -r), then run RUNS
# times (default 11) with each executor, the two alternating, and both must
# print the same output. Shown: the median wall time of each, and the ratio.
#
# Environment: RUNS, SQLITE_DIR, LLVM_BINDIR (default /usr/lib/llvm-19/bin), CPUS (a
# taskset CPU list to pin every run to, e.g. 0; default: not pinned).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-${ORCRT_BUILD_DIR:-$top/build}}
build=$(cd "$build" && pwd)
bindir=${LLVM_BINDIR:-/usr/lib/llvm-19/bin}
runs=${RUNS:-11}
sqlite_pkg=better-sqlite3@12.11.1

jitlink=$bindir/llvm-jitlink
clang=$bindir/clang
llvm_exe=$bindir/llvm-jitlink-executor
# The real program behind libtool's wrapper script, which would add a shell
# to every start; it finds liborcrt through LD_LIBRARY_PATH.
orcrt_exe=$build/src/executor/.libs/orcrt-executor
[ -x "$orcrt_exe" ] || orcrt_exe=$build/src/executor/orcrt-executor
for f in "$jitlink" "$clang" "$llvm_exe" "$orcrt_exe"; do
	[ -x "$f" ] || { echo "e2e.sh: $f not found" >&2; exit 1; }
done
export LD_LIBRARY_PATH=$build/src/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
pin=()
[ -n "${CPUS:-}" ] && pin=(taskset -c "$CPUS")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- the programs ----------------------------------------------------------

names=() objects=()
"$clang" -c -O1 -o "$work/hello.o" "$top/contrib/examples/hello.c"
names+=(hello) objects+=("$work/hello.o")
"$clang" -c -O1 -o "$work/exceptions.o" "$top/tests/programs/exceptions.cpp"
names+=(cxx-exceptions) objects+=("$work/exceptions.o")

sqlite_dir=${SQLITE_DIR:-$build/sqlite/package/deps/sqlite3}
if [ ! -f "$sqlite_dir/sqlite3.c" ] && command -v npm >/dev/null; then
	(cd "$work" && npm pack --silent "$sqlite_pkg" >/dev/null 2>&1) &&
		tar -xzf "$work"/better-sqlite3-*.tgz -C "$work" \
			package/deps/sqlite3/sqlite3.c package/deps/sqlite3/sqlite3.h &&
		sqlite_dir=$work/package/deps/sqlite3 || true
fi
if [ -f "$sqlite_dir/sqlite3.c" ]; then
	"$clang" -c -O1 -I"$sqlite_dir" -o "$work/driver.o" "$top/tests/programs/sqlite-driver.c"
	"$clang" -c -O1 -o "$work/sqlite3.o" "$sqlite_dir/sqlite3.c"
	"$clang" -r -o "$work/sqlite.o" "$work/driver.o" "$work/sqlite3.o"
	names+=(sqlite) objects+=("$work/sqlite.o")
else
	echo "e2e.sh: no SQLite source (run contrib/ci/test.sh once, or install npm): skipped" >&2
fi

# ---- timing -----------------------------------------------------------------

# One run: its wall time in microseconds on stdout; its output in $2.
run_once() {
	local exe=$1 out=$2 obj=$3 t0 t1
	t0=$EPOCHREALTIME
	"${pin[@]}" "$jitlink" -oop-executor="$exe" "$obj" >"$out" 2>&1 || true
	t1=$EPOCHREALTIME
	echo $(((${t1/./} - ${t0/./})))
}

median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

printf '%s\n' "llvm-jitlink-19 -oop-executor=EXE, wall time, median of $runs alternating runs" \
	"${CPUS:+pinned to CPUs $CPUS}"
printf '%-16s %12s %12s %8s\n' program "orcrt (ms)" "llvm (ms)" ratio
for i in "${!names[@]}"; do
	obj=${objects[$i]}
	: >"$work/t.orcrt"
	: >"$work/t.llvm"
	run_once "$orcrt_exe" "$work/out.orcrt" "$obj" >/dev/null # warm-up
	run_once "$llvm_exe" "$work/out.llvm" "$obj" >/dev/null
	if ! cmp -s "$work/out.orcrt" "$work/out.llvm"; then
		echo "e2e.sh: ${names[$i]}: the executors' outputs differ" >&2
		diff "$work/out.llvm" "$work/out.orcrt" | head -n 20 >&2
		exit 1
	fi
	for ((r = 0; r < runs; r++)); do
		run_once "$orcrt_exe" "$work/out.orcrt" "$obj" >>"$work/t.orcrt"
		run_once "$llvm_exe" "$work/out.llvm" "$obj" >>"$work/t.llvm"
	done
	o=$(median <"$work/t.orcrt")
	l=$(median <"$work/t.llvm")
	awk -v n="${names[$i]}" -v o="$o" -v l="$l" \
		'BEGIN {printf "%-16s %12.1f %12.1f %7.2fx\n", n, o / 1000, l / 1000, o / l}'
done
