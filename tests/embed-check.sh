#!/bin/sh
# embed-check.sh - make installcheck: build the embedding example
# (contrib/examples/embed) against the *installed* liborcrt, with nothing
# but pkg-config and its own Makefile, then drive it with the test
# controller (tests/embed-driver) and, if LLVM 19's tools were found, run a
# program in it with llvm-jitlink-19. Prints TAP; exits non-zero on failure.
#
# Environment (set by the installcheck-local rule): ORCRT_TOP_SRCDIR,
# ORCRT_TOP_BUILDDIR, DESTDIR (may be empty), ORCRT_PKGCONFIGDIR,
# ORCRT_LIBDIR, PKG_CONFIG, CC, CFLAGS, ORCRT_CLANG, ORCRT_LLVM_JITLINK.
set -u

srcdir=${ORCRT_TOP_SRCDIR:?}
builddir=${ORCRT_TOP_BUILDDIR:?}
destdir=${DESTDIR:-}
example=$srcdir/contrib/examples/embed
tmp=$builddir/tests/embed-check.tmp
rm -rf "$tmp"
mkdir -p "$tmp" || exit 99
trap 'rm -rf "$tmp"' EXIT

# pkg-config finds the installed orcrt.pc; with DESTDIR, the sysroot
# variable puts DESTDIR in front of the paths it prints.
PKG_CONFIG_PATH=$destdir${ORCRT_PKGCONFIGDIR:?}${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
if [ -n "$destdir" ]; then
	PKG_CONFIG_SYSROOT_DIR=$destdir
	export PKG_CONFIG_SYSROOT_DIR
fi
# The executor finds the installed liborcrt.so wherever it was installed.
LD_LIBRARY_PATH=$destdir${ORCRT_LIBDIR:?}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH

n=0
failed=0
echo "1..5"
result() { # OK DESCRIPTION [LOG]
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=1
		[ $# -lt 3 ] || sed 's/^/# /' "$3"
	fi
}

# 1: the example builds with its Makefile and pkg-config alone.
${PKG_CONFIG:-pkg-config} --exists orcrt 2>"$tmp/build.log" &&
	make -s -C "$tmp" -f "$example/Makefile" srcdir="$example" \
		CC="${CC:-cc}" CFLAGS="${CFLAGS:--O2 -g} -Wall -Wextra -Werror" \
		PKG_CONFIG="${PKG_CONFIG:-pkg-config}" >>"$tmp/build.log" 2>&1
result $? "the example builds against the installed orcrt ($(${PKG_CONFIG:-pkg-config} --libs orcrt 2>/dev/null))" "$tmp/build.log"
if [ ! -x "$tmp/embed-executor" ]; then
	echo "Bail out! no embed-executor"
	exit 1
fi

# 2: it links the installed library, not the one in the build tree.
ldd "$tmp/embed-executor" >"$tmp/ldd.log" 2>&1
grep -q "liborcrt\.so\.[0-9]* => $destdir${ORCRT_LIBDIR}/" "$tmp/ldd.log"
result $? "the example runs with the installed liborcrt" "$tmp/ldd.log"

# 3: the test controller drives it: its Service, its wrapper, and LLVM's.
"$builddir/tests/embed-driver" "$tmp/embed-executor" >"$tmp/driver.log" 2>&1
result $? "the test controller drives the example (tests/embed-driver)" "$tmp/driver.log"

# 4: it is an executor for llvm-jitlink-19 too, and JIT'd code calls the
# function it offers.
if [ -z "${ORCRT_CLANG:-}" ] || [ -z "${ORCRT_LLVM_JITLINK:-}" ]; then
	n=$((n + 2))
	echo "ok $((n - 1)) - llvm-jitlink-19 runs greeting.c in the example # SKIP no LLVM 19 tools"
	echo "ok $n - llvm-jitlink-19 runs hello.c in the example # SKIP no LLVM 19 tools"
else
	{
		"$ORCRT_CLANG" -c -o "$tmp/greeting.o" "$example/greeting.c" &&
			"$ORCRT_LLVM_JITLINK" -oop-executor="$tmp/embed-executor" "$tmp/greeting.o" >"$tmp/out"
	} >"$tmp/jitlink.log" 2>&1
	status=$?
	echo "hello from the embedding executor" >"$tmp/expected"
	if [ $status -ne 0 ]; then
		echo "exit status $status" >>"$tmp/jitlink.log"
	elif ! cmp -s "$tmp/out" "$tmp/expected"; then
		status=1
		{ echo "stdout:"; cat "$tmp/out"; } >>"$tmp/jitlink.log"
	fi
	result $status "llvm-jitlink-19 runs greeting.c in the example, which calls embed_kv_get()" "$tmp/jitlink.log"

	# 5: the bundled example, with arguments and an exit status.
	{
		"$ORCRT_CLANG" -c -o "$tmp/hello.o" "$srcdir/contrib/examples/hello.c" &&
			"$ORCRT_LLVM_JITLINK" -oop-executor="$tmp/embed-executor" "$tmp/hello.o" \
				-args embed x >"$tmp/out"
	} >"$tmp/jitlink.log" 2>&1
	status=$?
	printf '%s\n' "Hello, embed! This is JIT'd code running in the executor." \
		"  argument 1: x" >"$tmp/expected"
	if [ $status -ne 42 ]; then
		echo "exit status $status, not 42" >>"$tmp/jitlink.log"
	elif ! cmp -s "$tmp/out" "$tmp/expected"; then
		{ echo "stdout:"; cat "$tmp/out"; } >>"$tmp/jitlink.log"
	else
		status=0
	fi
	result $status "llvm-jitlink-19 runs contrib/examples/hello.c in the example (exit status 42)" "$tmp/jitlink.log"
fi

# The driver's own TAP lines, for the log.
sed 's/^/# driver: /' "$tmp/driver.log"
exit $failed
