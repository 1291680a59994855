#!/bin/sh
# capture.sh PROXY SEEDDIR - record real LLVM sessions as fuzzer seeds
#
# Runs llvm-jitlink and lli of one LLVM release on a few programs with
# capture-proxy (PROXY) between them and that release's own executors
# (llvm-jitlink-executor, lli-child-target), and leaves the seeds it writes
# in SEEDDIR/<fuzzer>/, named after the program and, for a release other
# than 19, prefixed with llvmN-.
# Environment: ORCRT_LLVM_BINDIR (default /usr/lib/llvm-19/bin).
set -eu

proxy=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
seeds=$2
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${ORCRT_LLVM_BINDIR:-/usr/lib/llvm-19/bin}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$seeds"
# The release, from a bindir such as /usr/lib/llvm-14/bin.
release=$(echo "$bin" | sed -n 's|.*/llvm-\([0-9][0-9]*\)/bin/*$|\1|p')
prefix=
[ -n "$release" ] && [ "$release" != 19 ] && prefix=llvm$release-

cc="$bin/clang"
"$cc" -c -O1 "$top/contrib/examples/hello.c" -o "$work/hello.o"
"$cc" -c -O1 -g "$top/tests/programs/debuginfo.c" -o "$work/debuginfo.o"
"$cc" -c -O1 "$top/tests/programs/args.c" -o "$work/args.o"
"$cc" -c -O1 "$top/tests/programs/exceptions.cpp" -o "$work/exceptions.o"
"$cc" -S -emit-llvm -O1 "$top/contrib/examples/hello.c" -o "$work/hello.ll"

# capture NAME EXECUTOR CONTROLLER ARGS...: the controller's exit status is
# the program's, so it is not checked; the proxy's log shows what happened.
capture() {
	name=$prefix$1 exe=$2
	shift 2
	ORCRT_CAPTURE_EXECUTOR=$exe ORCRT_CAPTURE_DIR=$seeds ORCRT_CAPTURE_NAME=$name \
		"$@" >/dev/null 2>&1 || true
	# The proxy writes its files after the controller has gone (LLVM 14's
	# exits as soon as the pipes close): give it a few seconds.
	tries=0
	while ! test -s "$seeds/frames/$name" && [ $tries -lt 50 ]; do
		sleep 0.1
		tries=$((tries + 1))
	done
	test -s "$seeds/frames/$name" || { echo "capture.sh: no frames for $name" >&2; exit 1; }
	echo "captured $name ($(wc -l <"$seeds/$name.log") frames)"
}

jl="$bin/llvm-jitlink"
capture jitlink-hello "$bin/llvm-jitlink-executor" "$jl" -oop-executor="$proxy" "$work/hello.o"
capture jitlink-debuginfo "$bin/llvm-jitlink-executor" "$jl" -oop-executor="$proxy" "$work/debuginfo.o"
capture jitlink-args "$bin/llvm-jitlink-executor" "$jl" -oop-executor="$proxy" "$work/args.o" -args a bc
capture jitlink-exceptions "$bin/llvm-jitlink-executor" "$jl" -oop-executor="$proxy" \
	"$work/exceptions.o"
capture lli-hello "$bin/lli-child-target" "$bin/lli" -jit-kind=mcjit -remote-mcjit \
	-mcjit-remote-process="$proxy" "$work/hello.ll"
# The logs stay beside the seeds' directories only while capturing.
rm -f "$seeds"/*.log
