#!/bin/bash
# test.sh - the test command of orcrt, from a fresh Debian 12 machine (as
# root): install the dependencies, fetch SQLite's source for the end-to-end
# SQLite test, build in ./build, run every test (make check), run the
# executor under valgrind and each fuzzer briefly, run every test again
# under ASan+UBSan (build/asan) and under TSan (build/tsan), then
# make distcheck. Exits non-zero on any failure.
#
# Environment: ORCRT_BUILD_DIR (default: build/ at the top of the tree),
# ORCRT_FUZZ_SECONDS (each fuzzer's run, default 20), MAKEFLAGS as usual.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${ORCRT_BUILD_DIR:-$top/build}
# The SQLite amalgamation ships in this npm package, as deps/sqlite3/.
sqlite_pkg=better-sqlite3@12.11.1
start=$(date +%s)

step() { printf '\n=== %s (%ss)\n' "$1" "$(($(date +%s) - start))"; }

step "dependencies"
"$top/contrib/ci/deps.sh"

step "SQLite source ($sqlite_pkg from the npm registry)"
sqlite_dir=$build/sqlite/package/deps/sqlite3
if [ -f "$sqlite_dir/sqlite3.c" ] && [ -f "$sqlite_dir/sqlite3.h" ]; then
	echo "cached in $sqlite_dir"
else
	mkdir -p "$build/sqlite"
	rm -f "$build"/sqlite/*.tgz
	(cd "$build/sqlite" && npm pack --silent "$sqlite_pkg" >/dev/null)
	tar -xzf "$build"/sqlite/*.tgz -C "$build/sqlite" \
		package/deps/sqlite3/sqlite3.c package/deps/sqlite3/sqlite3.h
	echo "unpacked into $sqlite_dir"
fi
grep -m1 '^#define SQLITE_VERSION ' "$sqlite_dir/sqlite3.h"

step "autoreconf"
(cd "$top" && autoreconf -fi >/dev/null 2>&1) || (cd "$top" && autoreconf -fi)

step "configure"
mkdir -p "$build"
cd "$build"
if ! "$top/configure" --with-sqlite-src="$sqlite_dir" >configure.out 2>&1; then
	cat configure.out
	exit 1
fi
# configure ends with a summary of what it chose.
sed -n '/^  orcrt /,$p' configure.out

step "make -j2 check"
make -j2 check 2>&1 | tee check.out

step "valgrind: llvm-jitlink-19 sessions through orcrt-executor under valgrind"
"$top/contrib/ci/valgrind.sh" "$build"

step "fuzz smoke: each fuzzer for ${ORCRT_FUZZ_SECONDS:-20} s (make fuzz)"
make fuzz FUZZ_SECONDS="${ORCRT_FUZZ_SECONDS:-20}"

# Every suite again under AddressSanitizer with UndefinedBehaviorSanitizer,
# and under ThreadSanitizer, each in its own build directory; any report
# fails the test that caused it (the sanitizers stop the process at the
# first one). Without the SQLite test: JIT-linking SQLite is slow there.
sanitized_check() {
	name=$1
	shift
	step "make -j2 check under $name (build dir $build/$name)"
	mkdir -p "$build/$name"
	(
		cd "$build/$name"
		if ! "$top/configure" "$@" >configure.out 2>&1; then
			cat configure.out
			exit 1
		fi
		make -j2 check 2>&1 | tee check.out
	)
}
ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	sanitized_check asan \
	CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	sanitized_check tsan CFLAGS="-O1 -g -fsanitize=thread"

step "make -j2 distcheck"
make -j2 distcheck

step "done"
summary='^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+$'
for name in asan tsan; do
	printf '%s: ' "$name"
	grep -E "$summary" "$build/$name/check.out" | tail -n 1
done
echo "total: $(($(date +%s) - start)) s"
# Last, Check's summary of the full plain run (distcheck's own run skips
# SQLite), so that it closes the output.
grep -E "$summary" check.out | tail -n 1
