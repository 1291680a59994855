#!/bin/sh
# llvm-release.sh FILE - run the version suite (tests/check-llvm) for the
# LLVM release FILE names (tests/llvm-N.release, N in 14 15 16 19 22),
# with its tools in $ORCRT_LLVM_ROOT/llvm-N/bin; its TAP output goes to
# make check's TAP driver. When that release's clang, llvm-jitlink,
# llvm-jitlink-executor, lli or lli-child-target is not installed, it
# prints a TAP plan that skips everything and exits 77, so that a machine
# with only some releases still passes (without clang-repl, 22's suite
# leaves out its REPL cases and says so).
set -eu
release=$(basename "$1" .release)
release=${release#llvm-}
bin=${ORCRT_LLVM_ROOT:-/usr/lib}/llvm-$release/bin
for t in clang llvm-jitlink llvm-jitlink-executor lli lli-child-target; do
	if [ ! -x "$bin/$t" ]; then
		echo "1..0 # SKIP LLVM $release: no $bin/$t"
		exit 77
	fi
done
ORCRT_LLVM_RELEASE=$release ORCRT_LLVM_ROOT=${ORCRT_LLVM_ROOT:-/usr/lib} \
	exec "${ORCRT_TOP_BUILDDIR:-.}/tests/check-llvm"
