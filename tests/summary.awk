# summary.awk - add up the Check summaries of every test runner's log and
# print one line in Check's own format.
/^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+/ {
	gsub(/,/, "")
	checks += $3; failures += $5; errors += $7; found = 1
}
END {
	if (!found) { print "no Check summary found"; exit 1 }
	pct = checks ? int(100 * (checks - failures - errors) / checks) : 0
	printf "%d%%: Checks: %d, Failures: %d, Errors: %d\n", pct, checks, failures, errors
}
