#!/bin/sh
# headers.sh - every public header compiles on its own, in a translation
# unit of its own, as C99 and as C++11, pedantic, with warnings as errors;
# included twice, to check its guard. Every header in include/orcrt is
# checked, so a new one needs no change here. Prints TAP.
#
# Environment (set by make check): ORCRT_TOP_SRCDIR, CC, CXX.
set -u

srcdir=${ORCRT_TOP_SRCDIR:?}
CC=${CC:-cc}
CXX=${CXX:-c++}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/orcrt-headers.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

cflags="-std=c99 -pedantic -Werror -Wall -Wextra -Wstrict-prototypes"
cxxflags="-std=c++11 -pedantic -Werror -Wall -Wextra"

have_cxx=yes
echo 'int main() { return 0; }' >"$tmp/probe.cc"
$CXX -c -o "$tmp/probe.o" "$tmp/probe.cc" >/dev/null 2>&1 || have_cxx=no

set -- "$srcdir"/include/orcrt/*.h
echo "1..$(($# * 2))"
echo "# C: $CC $cflags"
echo "# C++: $CXX $cxxflags"
n=0
for h in "$@"; do
	b=$(basename "$h")
	printf '#include <orcrt/%s>\n#include <orcrt/%s>\n' "$b" "$b" >"$tmp/$b.c"
	cp "$tmp/$b.c" "$tmp/$b.cc"

	n=$((n + 1))
	if $CC $cflags -I"$srcdir/include" -c -o "$tmp/$b.o" "$tmp/$b.c" >"$tmp/log" 2>&1; then
		echo "ok $n - orcrt/$b compiles alone as C99"
	else
		echo "not ok $n - orcrt/$b does not compile alone as C99"
		sed 's/^/# /' "$tmp/log"
	fi

	n=$((n + 1))
	if [ $have_cxx = no ]; then
		echo "ok $n - orcrt/$b compiles alone as C++11 # SKIP no working C++ compiler ($CXX)"
	elif $CXX $cxxflags -I"$srcdir/include" -c -o "$tmp/$b.o" "$tmp/$b.cc" >"$tmp/log" 2>&1; then
		echo "ok $n - orcrt/$b compiles alone as C++11"
	else
		echo "not ok $n - orcrt/$b does not compile alone as C++11"
		sed 's/^/# /' "$tmp/log"
	fi
done
