#!/bin/sh
# abi.sh - liborcrt exports exactly its public API. Prints TAP.
#
# Three lists must agree: the names in the export map (src/liborcrt.sym),
# the dynamic symbols the built liborcrt.so defines (nm -D), and the
# functions and variables the public headers (include/orcrt/*.h) declare.
# Everything is found from those files, so a new header, a new export or a
# new node of the map is checked without editing this script.
#
# Environment (set by make check): ORCRT_TOP_SRCDIR, ORCRT_TOP_BUILDDIR,
# CC, ORCRT_PUBLIC_HEADERS (pkginclude_HEADERS), NM, READELF.
set -u

srcdir=${ORCRT_TOP_SRCDIR:?}
builddir=${ORCRT_TOP_BUILDDIR:?}
map=$srcdir/src/liborcrt.sym
la=$builddir/src/liborcrt.la
NM=${NM:-nm}
READELF=${READELF:-readelf}
CC=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/orcrt-abi.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
export LC_ALL=C

n=0
ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}
not_ok() {
	n=$((n + 1))
	echo "not ok $n - $1"
	[ $# -lt 2 ] || sed 's/^/# /' "$2"
}
skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}
# check DESCRIPTION FILE: passes if FILE is empty, else prints it.
check() {
	if [ -s "$2" ]; then not_ok "$1" "$2"; else ok "$1"; fi
}

echo "1..8"

# ---- the map -------------------------------------------------------------

# The global names of every node, one per line as "LINE NAME", comments
# removed; a line holding anything else in a global list is reported as
# "LINE ?TEXT".
awk '
	{
		s = $0; out = ""
		while (s != "") {
			if (incomment) {
				i = index(s, "*/")
				if (!i) { s = ""; break }
				s = substr(s, i + 2); incomment = 0
			} else {
				i = index(s, "/*")
				if (!i) { out = out s; s = "" }
				else { out = out substr(s, 1, i - 1); s = substr(s, i + 2); incomment = 1 }
			}
		}
		gsub(/^[ \t]+|[ \t]+$/, "", out)
		if (out == "") next
		if (out ~ /^global:$/) { inglobal = 1; next }
		if (out ~ /^local:$/ || out ~ /^}/) { inglobal = 0; next }
		if (out ~ /\{$/) { inglobal = 0; next }
		if (inglobal) {
			if (out ~ /^[A-Za-z_][A-Za-z0-9_]*;$/) { sub(/;$/, "", out); print NR, out }
			else print NR, "?" out
		}
	}
' "$map" >"$tmp/map.lines"
cut -d' ' -f2 "$tmp/map.lines" >"$tmp/map.names"
sort -u "$tmp/map.names" >"$tmp/map.sorted"

# 1: every global entry is one plain name on its own line: no wildcard, no
# pattern, nothing exported by accident.
grep ' ?' "$tmp/map.lines" | sed 's/^\([0-9]*\) ?/line \1: not one plain name: /' >"$tmp/bad"
[ -s "$tmp/map.names" ] || echo "no global names found in $map" >>"$tmp/bad"
check "the export map lists plain names, one per line" "$tmp/bad"

# 2: sorted and unique within each node, so that a merge shows as one line.
: >"$tmp/bad"
# Nodes are separated by the line numbers of their "global:" lines.
awk '/global:/ { print NR }' "$map" >"$tmp/nodes"
prev=0
for start in $(cat "$tmp/nodes") 999999999; do
	awk -v a="$prev" -v b="$start" '$1 > a && $1 < b { print $2 }' "$tmp/map.lines" >"$tmp/node"
	sort -u "$tmp/node" >"$tmp/node.sorted"
	if ! cmp -s "$tmp/node" "$tmp/node.sorted"; then
		echo "the node after line $prev is not sorted (LC_ALL=C) or repeats a name:" >>"$tmp/bad"
		diff "$tmp/node" "$tmp/node.sorted" >>"$tmp/bad"
	fi
	prev=$start
done
check "each node of the export map is sorted and has no duplicates" "$tmp/bad"

# ---- the built library ---------------------------------------------------

dlname=
[ -f "$la" ] && dlname=$(sed -n "s/^dlname='\(.*\)'$/\1/p" "$la")
so=$builddir/src/.libs/$dlname
if [ -z "$dlname" ] || [ ! -f "$so" ]; then
	skip "the built library has a SONAME" "no shared liborcrt was built"
	skip "the library exports exactly the names in the map" "no shared liborcrt was built"
	skip "every export carries a version of the map" "no shared liborcrt was built"
else
	# 3: the SONAME is what libtool named the file: liborcrt.so.N.
	soname=$($READELF -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p')
	: >"$tmp/bad"
	case $soname in
	liborcrt.so.[0-9]*) [ "$soname" = "$dlname" ] ||
		echo "SONAME $soname, but libtool installs $dlname" >>"$tmp/bad" ;;
	*) echo "SONAME is '$soname', not liborcrt.so.N" >>"$tmp/bad" ;;
	esac
	check "the built library has the SONAME $dlname" "$tmp/bad"

	# 4: defined dynamic symbols, less the version nodes themselves (A).
	$NM -D --defined-only "$so" >"$tmp/nm" || exit 99
	awk '$(NF - 1) != "A" { print $NF }' "$tmp/nm" >"$tmp/exports.versioned"
	sed 's/@.*//' "$tmp/exports.versioned" | sort -u >"$tmp/exports"
	comm -23 "$tmp/exports" "$tmp/map.sorted" | sed 's/^/exported but not in the map: /' >"$tmp/bad"
	comm -13 "$tmp/exports" "$tmp/map.sorted" | sed 's/^/in the map but not exported: /' >>"$tmp/bad"
	check "the library exports exactly the names in the map" "$tmp/bad"

	# 5: every export is bound to a node of the map.
	nodes=$(sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_.]*\)[[:space:]]*{.*/\1/p' "$map" | tr '\n' ' ' | sed 's/ $//')
	: >"$tmp/bad"
	while read -r sym; do
		v=${sym#*@@}
		[ "$v" != "$sym" ] || { echo "$sym: no default version" >>"$tmp/bad"; continue; }
		case " $nodes " in *" $v "*) ;; *) echo "$sym: version $v is no node of the map" >>"$tmp/bad" ;; esac
	done <"$tmp/exports.versioned"
	check "every export carries a version node of the map ($nodes)" "$tmp/bad"
fi

# ---- the headers ---------------------------------------------------------

set -- "$srcdir"/include/orcrt/*.h
for h in "$@"; do echo "#include <orcrt/$(basename "$h")>"; done >"$tmp/all.c"

# 6: the functions and variables the headers declare are the map's names.
# Functions come from GCC's -aux-info (every prototype, with its file);
# variables from the preprocessed headers (extern declarations without a
# parenthesis). Inline functions are not exports.
auxcc=
for c in "$CC" gcc; do
	if $c -std=c99 -I"$srcdir/include" -fsyntax-only -aux-info "$tmp/aux" "$tmp/all.c" 2>/dev/null; then
		auxcc=$c
		break
	fi
done
if [ -z "$auxcc" ]; then
	skip "the headers declare exactly the names in the map" "neither $CC nor gcc supports -aux-info"
else
	grep '^/\* [^ ]*/include/orcrt/[^ ]*\.h:' "$tmp/aux" |
		grep -v '^/\*[^*]*\*/ static ' |
		sed -e 's/^\/\*[^*]*\*\/ //' -e 's/ (.*//' -e 's/.*[ *]//' >"$tmp/declared"
	$auxcc -std=c99 -I"$srcdir/include" -E "$tmp/all.c" |
		awk '
			/^# [0-9]+ "/ { inhdr = ($3 ~ /\/include\/orcrt\/[^\/]*\.h"$/); next }
			inhdr { printf "%s ", $0 }
		' | tr ';' '\n' |
		sed -n 's/^[[:space:]]*extern[[:space:]][^(]*[[:space:]*]\([A-Za-z_][A-Za-z0-9_]*\)[[:space:]]*$/\1/p' >>"$tmp/declared"
	sort -u "$tmp/declared" >"$tmp/declared.sorted"
	comm -23 "$tmp/declared.sorted" "$tmp/map.sorted" | sed 's/^/declared in a header but not in the map: /' >"$tmp/bad"
	comm -13 "$tmp/declared.sorted" "$tmp/map.sorted" | sed 's/^/in the map but declared in no header: /' >>"$tmp/bad"
	check "the headers declare exactly the names in the map" "$tmp/bad"
fi

# 7: every header in include/orcrt is installed, and nothing else is.
: >"$tmp/bad"
if [ -z "${ORCRT_PUBLIC_HEADERS+set}" ]; then
	skip "every header in include/orcrt is installed" "ORCRT_PUBLIC_HEADERS is not set"
else
	for h in "$@"; do echo "include/orcrt/$(basename "$h")"; done | sort >"$tmp/in-tree"
	for h in $ORCRT_PUBLIC_HEADERS; do echo "$h"; done | sort >"$tmp/installed"
	comm -23 "$tmp/in-tree" "$tmp/installed" | sed 's/^/not in pkginclude_HEADERS: /' >"$tmp/bad"
	comm -13 "$tmp/in-tree" "$tmp/installed" | sed 's/^/installed but not in include\/orcrt: /' >>"$tmp/bad"
	check "every header in include/orcrt is installed, and only those" "$tmp/bad"
fi

# 8: orcrt/orcrt.h includes every other public header.
: >"$tmp/bad"
for h in "$@"; do
	b=$(basename "$h")
	[ "$b" = orcrt.h ] && continue
	grep -q "^#include <orcrt/$b>" "$srcdir/include/orcrt/orcrt.h" ||
		echo "orcrt/orcrt.h does not include orcrt/$b" >>"$tmp/bad"
done
check "orcrt/orcrt.h includes every public header" "$tmp/bad"
