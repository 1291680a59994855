#!/bin/sh
# help-man.sh - orcrt-executor --help, its manual page and the README state
# the same defaults: the worker thread count (-j) and the idle probe's
# delay (-p). Each is read from the text a user reads, so changing one and
# not the others fails here. Prints TAP.
#
# Environment (set by make check): ORCRT_TOP_SRCDIR, ORCRT_TOP_BUILDDIR.
set -u

srcdir=${ORCRT_TOP_SRCDIR:?}
builddir=${ORCRT_TOP_BUILDDIR:?}
man=$srcdir/man/orcrt-executor.1
readme=$srcdir/README.md
export LC_ALL=C

echo "1..3"
help=$("$builddir/src/executor/orcrt-executor" --help) || {
	echo "Bail out! orcrt-executor --help failed"
	exit 1
}

# help_entry OPT: the --help text of option OPT (e.g. -j), on one line.
help_entry() {
	printf '%s\n' "$help" |
		awk -v o="  $1, " '
			index($0, o) == 1 { on = 1; printf "%s", $0; next }
			on && /^  *-/ { exit }
			on && /^ / { printf " %s", $0; next }
			on { exit }
		' | tr -s ' '
}
# man_entry OPT: the manual's item of option OPT (e.g. j), on one line.
man_entry() {
	awk -v o=".It Fl $1 " '
		index($0, o) == 1 { on = 1; next }
		on && /^\.(It|El)/ { exit }
		on { printf "%s ", $0 }
	' "$man" | tr -s ' '
}

n=0
# same WHAT A B: passes if A and B are the same, non-empty.
same() {
	n=$((n + 1))
	if [ -n "$2" ] && [ "$2" = "$3" ]; then
		echo "ok $n - $1: '$2'"
	else
		echo "not ok $n - $1: '$2' and '$3' differ"
	fi
}

# -j: "(default: X)" in --help and in the README's table of options, "the
# default is X." in the manual.
h=$(help_entry -j | sed -n 's/.*(default: \([^)]*\)).*/\1/p')
m=$(man_entry j | sed -n 's/.*the default is \([^.]*\)\..*/\1/p')
r=$(grep -- '--threads=N' "$readme" | sed -n 's/.*(default: \([^)]*\)).*/\1/p')
same "the default thread count of --help is the manual's" "$h" "$m"
same "the default thread count of --help is the README's" "$h" "$r"

# -p: "(default MS;" in --help, "MS by default" in the manual.
h=$(help_entry -p | sed -n 's/.*(default \([0-9][0-9]*\);.*/\1/p')
m=$(man_entry p | sed -n 's/.* \([0-9][0-9]*\) by default.*/\1/p')
same "the default idle probe delay of --help is the manual's" "$h" "$m"
