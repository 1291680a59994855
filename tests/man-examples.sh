#!/bin/sh
# man-examples.sh - compile and run the EXAMPLES program of every manual
# page that has one, against the library just built, so that the pages stay
# true to the code. Prints TAP.
set -u

srcdir=${ORCRT_TOP_SRCDIR:?}
builddir=${ORCRT_TOP_BUILDDIR:?}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/orcrt-man.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

pages=
for p in "$srcdir"/man/*.3; do
	grep -q '^#include <orcrt/' "$p" && pages="$pages $p"
done
set -- $pages
echo "1..$#"

n=0
for p in "$@"; do
	n=$((n + 1))
	name=$(basename "$p")
	# The first literal display of EXAMPLES holding a main() is the program.
	awk '
		/^\.Sh EXAMPLES/ { inex = 1; next }
		/^\.Sh / { inex = 0 }
		inex && /^\.Bd -literal/ { inbd = 1; buf = ""; next }
		inbd && /^\.Ed/ { inbd = 0; if (buf ~ /main\(void\)/) { printf "%s", buf; exit } next }
		inbd { buf = buf $0 "\n" }
	' "$p" | sed -e 's/\\e/\\/g' -e 's/\\(aq/'"'"'/g' >"$tmp/$name.c"
	if ! $LIBTOOL --mode=link --quiet $CC $CFLAGS -std=gnu11 -Wall -Wpedantic -Werror \
		-I"$srcdir/include" -o "$tmp/$name" "$tmp/$name.c" \
		"$builddir/src/liborcrt.la" $PTHREAD_CFLAGS >"$tmp/$name.log" 2>&1; then
		echo "not ok $n - $name: its example does not compile"
		sed 's/^/# /' "$tmp/$name.log"
		continue
	fi
	# A sandboxed program may not ptrace, which LeakSanitizer needs at exit.
	leaks=
	[ "$name" = orc_rt_Sandbox.3 ] && leaks="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	if env ${leaks:+ASAN_OPTIONS=$leaks} $LIBTOOL --mode=execute "$tmp/$name" >"$tmp/$name.out" 2>&1; then
		echo "ok $n - $name: its example compiles and runs"
	else
		echo "not ok $n - $name: its example exits with status $?"
		sed 's/^/# /' "$tmp/$name.out"
	fi
done
