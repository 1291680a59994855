#!/bin/sh
# man-lint.sh - every manual page formats with no warning under
# groff -mdoc -ww, and every function and variable liborcrt exports (the
# names of src/liborcrt.sym) has a page of its own name: it is named in the
# NAME section of a section-3 page, from which make install makes the link
# (man/local.am). Prints TAP.
set -u

srcdir=${ORCRT_TOP_SRCDIR:?}
map=$srcdir/src/liborcrt.sym
set -- "$srcdir"/man/*.[0-9]
echo "1..$(($# + 1))"
n=0
for p in "$@"; do
	n=$((n + 1))
	out=$(LC_ALL=C groff -mdoc -ww -z "$p" 2>&1)
	if [ $? -eq 0 ] && [ -z "$out" ]; then
		echo "ok $n - $(basename "$p") is lint-clean"
	else
		echo "not ok $n - $(basename "$p") has groff warnings"
		printf '%s\n' "$out" | sed 's/^/# /'
	fi
done

# The names of the map: a plain name and a semicolon on a line of their own
# (tests/abi.sh checks that every global entry is one); the names in NAME
# sections, found as man/local.am finds them for the links.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/orcrt-man.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
export LC_ALL=C
sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\);[[:space:]]*$/\1/p' "$map" | sort -u >"$tmp/exports"
for p in "$@"; do
	case $p in *.3) ;; *) continue ;; esac
	sed -n '/^\.Sh NAME/,/^\.Sh [^N]/s/^\.Nm \([A-Za-z_][A-Za-z0-9_]*\).*/\1/p' "$p"
done | sort -u >"$tmp/named"
comm -23 "$tmp/exports" "$tmp/named" >"$tmp/missing"
n=$((n + 1))
if [ ! -s "$tmp/exports" ]; then
	echo "not ok $n - every export has a manual page # no names found in $map"
elif [ -s "$tmp/missing" ]; then
	echo "not ok $n - every export has a manual page: $(wc -l <"$tmp/missing") have none"
	sed 's/^/# named in no NAME section of man\/*.3: /' "$tmp/missing"
else
	echo "ok $n - every export ($(wc -l <"$tmp/exports")) is named in the NAME section of a section-3 page"
fi
