#!/bin/sh
# man-lint.sh - every manual page formats with no warning under
# groff -mdoc -ww. Prints TAP.
set -u

srcdir=${ORCRT_TOP_SRCDIR:?}
set -- "$srcdir"/man/*.[0-9]
echo "1..$#"
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
