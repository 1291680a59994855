#!/bin/sh
# valgrind.sh BUILD_DIR - orcrt-executor under valgrind --leak-check=full for
# whole llvm-jitlink-19 sessions: a C program, a C++ program that throws, and
# a program with debug information (registered with the GDB JIT interface).
# Fails if valgrind reports any error or leak (definite, indirect or
# possible) in the executor, or if a program does not run as it should.
#
# Environment: ORCRT_LLVM_BINDIR (default /usr/lib/llvm-19/bin).
set -eu

build=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${ORCRT_LLVM_BINDIR:-/usr/lib/llvm-19/bin}
command -v valgrind >/dev/null 2>&1 || { echo "valgrind.sh: valgrind is not installed" >&2; exit 1; }
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

# llvm-jitlink-19 execs this in place of the executor; valgrind's exit status
# (99 on any error) goes to a file, since llvm-jitlink ignores it. libtool
# runs valgrind on the real binary behind the build tree's wrapper script.
cat >"$work/executor" <<EOF
#!/bin/sh
"$build/libtool" --mode=execute valgrind -q --leak-check=full \\
	--errors-for-leak-kinds=definite,indirect,possible \\
	--show-leak-kinds=definite,indirect,possible --smc-check=all --num-callers=40 \\
	--suppressions="$top/contrib/ci/valgrind.supp" \\
	--error-exitcode=99 --log-file="$work/valgrind.%p.log" \\
	"$build/src/executor/orcrt-executor" "\$@"
echo \$? >>"$work/status"
EOF
chmod +x "$work/executor"

"$bin/clang" -c -O1 "$top/contrib/examples/hello.c" -o "$work/hello.o"
"$bin/clang" -c -O1 "$top/tests/programs/exceptions.cpp" -o "$work/exceptions.o"
"$bin/clang" -c -O1 -g "$top/tests/programs/debuginfo.c" -o "$work/debuginfo.o"

# run NAME EXPECTED-STATUS OBJECT ARGS...
run() {
	name=$1 expect=$2
	shift 2
	set +e
	"$bin/llvm-jitlink" -oop-executor="$work/executor" "$@" >"$work/$name.out" 2>"$work/$name.err"
	rc=$?
	set -e
	if [ "$rc" -ne "$expect" ]; then
		echo "valgrind.sh: $name exited $rc, not $expect" >&2
		cat "$work/$name.err" >&2
		exit 1
	fi
	echo "$name: ran, exit status $rc"
}
run hello 42 "$work/hello.o"
run exceptions 12 "$work/exceptions.o" -args one two
run debuginfo 11 "$work/debuginfo.o"

# The wrappers may record their status just after the controller has exited.
tries=0
while [ "$(cat "$work/status" 2>/dev/null | wc -l)" -lt 3 ] && [ "$tries" -lt 100 ]; do
	sleep 0.1
	tries=$((tries + 1))
done
failed=0
while read -r status; do
	[ "$status" -eq 0 ] || failed=1
done <"$work/status"
[ "$(wc -l <"$work/status")" -eq 3 ] || failed=1
for log in "$work"/valgrind.*.log; do
	if [ -s "$log" ]; then
		cat "$log" >&2
		failed=1
	fi
done
if [ "$failed" -ne 0 ]; then
	echo "valgrind.sh: valgrind reported errors in orcrt-executor (statuses: $(tr '\n' ' ' <"$work/status"))" >&2
	exit 1
fi
echo "valgrind: no errors and no leaks in orcrt-executor"
