#!/bin/bash
# test.sh - the test command of orcrt, from a fresh Debian 12 machine (as
# root): install the dependencies, fetch SQLite's source for the end-to-end
# SQLite test, build in ./build, run every test (make check), run the
# executor under valgrind and each fuzzer briefly, run every test again
# under ASan+UBSan (build/asan) and under TSan (build/tsan), then
# make distcheck. Exits non-zero on any failure.
#
# Each stage's whole output goes to a log of its own in build/logs/; what is
# printed is a line per stage with its time and what it counted, every
# failing test, and, when a stage fails, the end of its log.
#
# Environment: ORCRT_BUILD_DIR (default: build/ at the top of the tree),
# ORCRT_FUZZ_SECONDS (each fuzzer's run, default 20), MAKEFLAGS as usual.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${ORCRT_BUILD_DIR:-$top/build}
logs=$build/logs
# The SQLite amalgamation ships in this npm package, as deps/sqlite3/.
sqlite_pkg=better-sqlite3@12.11.1
start=$(date +%s)
summary='^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+$'
mkdir -p "$logs"
rm -f "$logs"/*.log

# stage NAME LOG COMMAND...: run COMMAND with its output in LOG; say how long
# it took, or, if it fails, show the end of LOG and stop.
stage() {
	name=$1 log=$2
	shift 2
	t0=$(date +%s)
	printf '%-58s ' "$name"
	if "$@" >"$log" 2>&1; then
		printf 'ok   %4ss\n' "$(($(date +%s) - t0))"
	else
		printf 'FAIL %4ss\n' "$(($(date +%s) - t0))"
		echo "--- the end of $log:"
		tail -n 80 "$log"
		exit 1
	fi
}

# checks LOG: what a make check in LOG counted, and each test that failed.
checks() {
	grep -E '^(FAIL|ERROR|XPASS):' "$1" | sed 's/^/    /' || true
	printf '    %s; automake: %s\n' "$(grep -E "$summary" "$1" | tail -n 1)" \
		"$(grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR):' "$1" | tail -n 6 |
			tr -s ' ' | sed 's/^# //' | paste -sd ' ' | sed 's/: /=/g')"
}

# make check in the current directory, its output in LOG; on failure the
# failing tests' own logs follow.
make_check() {
	log=$1
	if make -j2 check >"$log" 2>&1; then
		return 0
	fi
	for t in $(sed -n 's/^\(FAIL\|ERROR\): \([^ ]*\).*/\2/p' "$log" | sort -u); do
		[ -f "$t.log" ] && grep -E -B2 -A30 '^not ok|^# |Assertion|ERROR' "$t.log" | head -n 120
	done
	return 1
}

fetch_sqlite() {
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
}
sqlite_dir=$build/sqlite/package/deps/sqlite3

echo "orcrt test command: every stage's full output is in $logs/"
stage "dependencies (contrib/ci/deps.sh)" "$logs/01-deps.log" "$top/contrib/ci/deps.sh"
sed 's/^/    /' "$logs/01-deps.log" | tail -n 1
stage "SQLite source ($sqlite_pkg, npm)" "$logs/02-sqlite.log" fetch_sqlite
sed -n 's/^#define SQLITE_VERSION */    SQLite /p' "$logs/02-sqlite.log"
stage "autoreconf" "$logs/03-autoreconf.log" sh -c "cd '$top' && autoreconf -fi"
cd "$build"
stage "configure" "$logs/04-configure.log" "$top/configure" --with-sqlite-src="$sqlite_dir"
# configure ends with a summary of what it chose.
sed -n '/^  orcrt /,$p' "$logs/04-configure.log" | sed 's/^/  /'
stage "make -j2" "$logs/05-make.log" make -j2
if grep -E 'warning:' "$logs/05-make.log" >/dev/null; then
	echo "    compiler warnings:"
	grep -E 'warning:' "$logs/05-make.log" | sed 's/^/    /'
fi
stage "make -j2 check" "$logs/06-check.log" make_check "$logs/06-check.log"
checks "$logs/06-check.log"
stage "valgrind: llvm-jitlink-19 sessions in orcrt-executor" "$logs/07-valgrind.log" \
	"$top/contrib/ci/valgrind.sh" "$build"
sed 's/^/    /' "$logs/07-valgrind.log" | tail -n 4
stage "fuzz smoke: each fuzzer ${ORCRT_FUZZ_SECONDS:-20} s (make fuzz)" "$logs/08-fuzz.log" \
	make fuzz FUZZ_SECONDS="${ORCRT_FUZZ_SECONDS:-20}"
grep -E '^=== fuzz-|DONE' "$logs/08-fuzz.log" | paste - - | sed -e 's/^=== /    /' -e 's/\t/  /'

# Every suite again under AddressSanitizer with UndefinedBehaviorSanitizer,
# and under ThreadSanitizer, each in its own build directory; any report
# fails the test that caused it (the sanitizers stop the process at the
# first one). Without the SQLite test: JIT-linking SQLite is slow there.
sanitized_check() {
	name=$1
	shift
	mkdir -p "$build/$name"
	cd "$build/$name"
	"$top/configure" "$@" >configure.out 2>&1 || { cat configure.out; return 1; }
	make_check "$logs/$name-check.log"
}
ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	stage "make -j2 check under ASan+UBSan (build/asan)" "$logs/09-asan.log" \
	sanitized_check asan \
	CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
checks "$logs/asan-check.log"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	stage "make -j2 check under TSan (build/tsan)" "$logs/10-tsan.log" \
	sanitized_check tsan CFLAGS="-O1 -g -fsanitize=thread"
checks "$logs/tsan-check.log"

cd "$build"
stage "make -j2 distcheck" "$logs/11-distcheck.log" make -j2 distcheck
grep -E 'archives ready for distribution|^orcrt-.*\.tar\.gz' "$logs/11-distcheck.log" |
	sed 's/^/    /' | head -n 3

echo "total: $(($(date +%s) - start)) s"
for name in asan tsan; do
	printf '%s: %s\n' "$name" "$(grep -E "$summary" "$logs/$name-check.log" | tail -n 1)"
done
# Last, Check's summary of the full plain run (distcheck's own run skips
# SQLite), so that it closes the output.
grep -E "$summary" "$logs/06-check.log" | tail -n 1
