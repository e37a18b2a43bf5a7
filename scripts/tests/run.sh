#!/usr/bin/env bash
# Test code is passed to the shell under test in single quotes on purpose.
# shellcheck disable=SC2016
#
# Shell-level tests of scripts/functions and the stock event scripts in
# scripts/events/legacy/. No test framework: each check prints "ok - ..."
# or "not ok - ...", and the last line is "N passed, M failed, K skipped".
#
#   scripts/tests/run.sh [GROUP...]
#
# Groups (default: all): lint lib bounded housekeeping reclock interface.
# Every group except lint runs once per shell in TEST_SHELLS (default: those
# of "dash bash" that are installed), because the library must work in both.
#
# The interface group needs root: it builds a private network namespace
# (rctdbt-<pid>-scripts-<shell>) with veth pairs, uses only addresses from
# 198.51.100.0/24 (public IPs) and 192.0.2.0/24 (others), disables IPv6 in
# it, and deletes it on exit, also on failure or interrupt. Without root it
# is skipped. lint uses shellcheck when installed (skipped otherwise) and
# always checks syntax with each shell.
#
# Exit status: 0 if nothing failed.

set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SCRIPTS=$(cd "$HERE/.." && pwd)
ALL_GROUPS="lint lib bounded housekeeping reclock interface"

PASS=0
FAIL=0
SKIP=0
CUR=""
NAMESPACES=""
TMPDIRS=""
# Unique in every command line this run creates, so that leftovers found
# by it are ours and no one else's.
MARK="rctdbtest$$x$RANDOM"

pass () { PASS=$((PASS + 1)); echo "ok - ${CUR}: $*"; }
fail () { FAIL=$((FAIL + 1)); echo "not ok - ${CUR}: $*"; }
skip () { SKIP=$((SKIP + 1)); echo "skip - ${CUR}: $*"; }

# Print captured output indented under a failure.
show () { printf '%s\n' "$OUT" | sed -e 's/^/    | /'; }

now_ms () { echo $(($(date +%s%N) / 1000000)); }

expect_rc ()
{
	if [ "$RC" = "$1" ]; then pass "$2 (rc $RC)"; else fail "$2: rc $RC, want $1"; show; fi
}

expect_has ()
{
	case "$OUT" in
	*"$1"*) pass "$2" ;;
	*) fail "$2: output lacks \"$1\""; show ;;
	esac
}

expect_lacks ()
{
	case "$OUT" in
	*"$1"*) fail "$2: output has \"$1\""; show ;;
	*) pass "$2" ;;
	esac
}

expect_eq ()
{
	if [ "$OUT" = "$1" ]; then pass "$2"; else fail "$2: output \"$OUT\", want \"$1\""; fi
}

check ()
{
	_desc="$1"
	shift
	if "$@"; then pass "$_desc"; else fail "$_desc"; fi
}

# Kill what this run left behind: probe sessions recorded in sandboxes,
# then any process whose command line carries our marker (by pid).
kill_leftovers ()
{
	for _d in $TMPDIRS; do
		_f="$_d/var/scripts/service/reclock/probe.pid"
		[ -r "$_f" ] || continue
		read -r _p _ <"$_f"
		case "$_p" in '' | *[!0-9]*) continue ;; esac
		# The probe leads its own session and process group.
		if [ "$(ps -o sid= -p "$_p" 2>/dev/null | tr -d ' ')" = "$_p" ]; then
			kill -KILL -- "-$_p" 2>/dev/null
		fi
	done
	for _p in $(pgrep -f -- "$MARK" 2>/dev/null); do
		[ "$_p" != $$ ] && kill -KILL "$_p" 2>/dev/null
	done
}

cleanup ()
{
	kill_leftovers
	for _ns in $NAMESPACES; do
		ip netns del "$_ns" 2>/dev/null
	done
	for _d in $TMPDIRS; do
		rm -rf "$_d"
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# sandbox: fresh $T with base/ (functions, scripts), var/ and a stub tool.
sandbox ()
{
	T=$(mktemp -d "${TMPDIR:-/tmp}/rctdb-scripts-test.XXXXXX")
	TMPDIRS="$TMPDIRS $T"
	BASE="$T/base"
	mkdir -p "$BASE/events/legacy" "$T/var" "$T/bin"
	cp "$SCRIPTS/functions" "$BASE/functions"
	cp "$SCRIPTS"/events/legacy/[0-9][0-9].* "$BASE/events/legacy/"
	chmod +x "$BASE"/events/legacy/*
	cat >"$T/bin/rctdb" <<'STUB'
#!/bin/sh
# Stub of the rctdb admin tool. Logs its arguments. STUB_IFACES=1: it
# knows setifacelink, -X ifaces and gratarp (later milestones).
echo "$*" >>"${STUB_LOG:?}"
case "$*" in
pnn) echo "${STUB_PNN:-1}" ;;
"-X nodestatus")
	echo "|Node|IP|Disconnected|Unknown|Banned|Disabled|Unhealthy|Stopped|Inactive|PartiallyOnline|ThisNode|"
	echo "|${STUB_PNN:-1}|192.0.2.12|0|0|0|0|1|0|0|0|Y|"
	exit 1 # as for an unhealthy node
	;;
setifacelink* | gratarp*)
	[ "${STUB_IFACES:-0}" = 1 ] || { echo "Unknown command '${1}'" >&2; exit 1; }
	;;
"-X ifaces")
	[ "${STUB_IFACES:-0}" = 1 ] || { echo "Unknown command 'ifaces'" >&2; exit 1; }
	echo "|Name|LinkStatus|References|"
	;;
*) echo "Unknown command '${1}'" >&2; exit 1 ;;
esac
exit 0
STUB
	chmod +x "$T/bin/rctdb"
	export CTDB_BASE="$BASE" RCTDB_BASE="$BASE"
	export CTDB_VARDIR="$T/var" RCTDB_VARDIR="$T/var"
	export CTDB_SCRIPT_VARDIR="$T/var/scripts"
	export CTDB="$T/bin/rctdb" STUB_LOG="$T/ctdb-calls"
	unset CTDB_LOGGING CTDB_PARTIALLY_ONLINE_INTERFACES STUB_IFACES STUB_PNN \
		CTDB_RECLOCK_PROBE_CMD CTDB_RECLOCK_FAIL_THRESHOLD \
		CTDB_RECLOCK_PROBE_TIMEOUT service_name
	: >"$STUB_LOG"
}

# lib CODE: run CODE in $SH after sourcing functions; sets OUT and RC.
lib ()
{
	OUT=$(timeout 30 "$SH" -c '. "$CTDB_BASE/functions" || exit 99
'"$1" 2>&1)
	RC=$?
}

# script NAME EVENT [ARGS]: run an event script; sets OUT, RC and MS.
script ()
{
	_name="$1"
	shift
	_t0=$(now_ms)
	OUT=$(${NETNS_EXEC:-} timeout 30 "$SH" "$BASE/events/legacy/$_name" "$@" 2>&1)
	RC=$?
	MS=$(($(now_ms) - _t0))
}

######################################################################

group_lint ()
{
	CUR="lint"
	for _sh in $SHELLS; do
		for _f in "$SCRIPTS/functions" "$SCRIPTS"/events/legacy/*; do
			if OUT=$("$_sh" -n "$_f" 2>&1); then
				pass "$_sh -n ${_f#"$SCRIPTS"/}"
			else
				fail "$_sh -n ${_f#"$SCRIPTS"/}"
				show
			fi
		done
	done
	for _f in "$SCRIPTS"/events/legacy/*; do
		check "${_f#"$SCRIPTS"/} is executable" test -x "$_f"
	done
	if command -v shellcheck >/dev/null 2>&1; then
		if OUT=$(cd "$SCRIPTS" && shellcheck -x functions events/legacy/* 2>&1); then
			pass "shellcheck"
		else
			fail "shellcheck"
			show
		fi
	else
		skip "shellcheck not installed"
	fi
}

group_lib ()
{
	CUR="lib[$SH]"
	sandbox

	# die, ctdb_check_args
	lib 'die "boom" 3'
	expect_rc 3 "die RC"
	expect_eq "boom" "die message"
	lib 'ctdb_check_args takeip eth0 198.51.100.1; echo reached'
	expect_rc 1 "takeip with 2 args"
	expect_eq "ERROR: must supply interface, IP and maskbits" "takeip args message"
	lib 'ctdb_check_args releaseip eth0; echo reached'
	expect_rc 1 "releaseip with 1 arg"
	expect_eq "ERROR: must supply interface, IP and maskbits" "releaseip args message"
	lib 'ctdb_check_args releaseip eth0 198.51.100.1 24 extra; echo reached'
	expect_rc 1 "releaseip with 4 args"
	lib 'ctdb_check_args updateip eth0 eth1 198.51.100.1; echo reached'
	expect_rc 1 "updateip with 3 args"
	expect_eq "ERROR: must supply old interface, new interface, IP and maskbits" "updateip args message"
	lib 'ctdb_check_args takeip eth0 198.51.100.1 24; ctdb_check_args updateip a b 198.51.100.1 24; ctdb_check_args monitor; echo reached'
	expect_eq "reached" "right argument counts pass"
	# The same through 10.interface (exits before touching any interface).
	echo "198.51.100.10/24 pub0" >"$BASE/public_addresses"
	script 10.interface takeip pub0
	expect_rc 1 "10.interface takeip without IP"
	expect_eq "ERROR: must supply interface, IP and maskbits" "10.interface takeip message"
	script 10.interface updateip pub0 pub1 198.51.100.10
	expect_rc 1 "10.interface updateip without maskbits"
	expect_eq "ERROR: must supply old interface, new interface, IP and maskbits" "10.interface updateip message"
	rm -f "$BASE/public_addresses"

	# counters
	lib 'ctdb_counter_incr'
	expect_rc 1 "counter without a state dir dies"
	expect_has "ctdb_setup_state_dir" "counter without a state dir says why"
	lib 'ctdb_setup_state_dir service t; echo "$script_state_dir"; test -d "$script_state_dir"'
	expect_eq "$CTDB_SCRIPT_VARDIR/service/t" "ctdb_setup_state_dir sets script_state_dir"
	lib 'ctdb_setup_state_dir service t; ctdb_counter_exists && echo yes || echo no
ctdb_counter_init; ctdb_counter_exists && echo yes
ctdb_counter_incr; ctdb_counter_incr; ctdb_counter_incr
ctdb_counter_get; echo "n=$_ctdb_counter"
ctdb_counter_incr foo; ctdb_counter_get foo; echo "foo=$_ctdb_counter"
ctdb_counter_init; ctdb_counter_get; echo "n=$_ctdb_counter"'
	expect_eq "no
yes
n=3
foo=1
n=0" "counter init/incr/get/exists"
	OUT=$(cat "$CTDB_SCRIPT_VARDIR/service/t/foo.failcount")
	expect_eq "1" "named counter: unary file foo.failcount"
	lib 'ctdb_setup_state_dir service t; ctdb_counter_incr; ctdb_counter_incr'
	OUT=$(wc -c <"$CTDB_SCRIPT_VARDIR/service/t/failcount")
	expect_eq "2" "unnamed counter: one byte per count in failcount"

	# failcount thresholds and messages
	fc () { lib 'ctdb_setup_state_dir service fc; '"$1"; }
	fc 'failcount_incr disk 2:4'
	expect_eq "" "failcount 1 < warn 2: silent"
	fc 'failcount_incr disk 2:4'
	expect_eq "WARNING: disk: fail count 2 >= threshold 2" "failcount warn"
	expect_rc 0 "failcount warn does not fail"
	fc 'failcount_incr disk 2:4'
	expect_eq "WARNING: disk: fail count 3 >= threshold 2" "failcount warn again"
	fc 'failcount_incr disk 2:4 "details"; echo not-reached'
	expect_rc 1 "failcount error threshold exits 1"
	expect_eq "ERROR: disk: fail count 4 >= threshold 4
details" "failcount error message with output the first time"
	fc 'failcount_incr disk 2:4 "details"'
	expect_eq "ERROR: disk: fail count 5 >= threshold 4" "failcount error again, without output"
	fc 'failcount_reset disk'
	expect_eq "NOTICE: disk: no longer failing" "failcount_reset notice"
	fc 'failcount_reset disk'
	expect_eq "" "failcount_reset when not failing: silent"
	fc 'failcount_incr disk 2:4'
	expect_eq "" "failcount counts from 0 after reset"
	fc 'failcount_incr net "" "out"'
	expect_eq "WARNING: net: fail count 1 >= threshold 1
out" "empty threshold: warn at 1"
	fc 'failcount_incr net ""'
	expect_eq "" "empty threshold: repeated warning rate-limited"
	fc 'failcount_set_warning_interval 0; failcount_incr net ""'
	expect_eq "WARNING: net: fail count 3 >= threshold 1" "warning interval 0: warns again"
	fc 'failcount_incr one 1'
	expect_eq "WARNING: one: fail count 1 >= threshold 1" "WARN only threshold"
	fc 'failcount_init one; failcount_incr one 0:1'
	expect_rc 1 "ERROR threshold 1 fails at once"
	fc 'failcount_incr bad x:y'
	expect_rc 1 "invalid threshold dies"
	expect_has "Invalid threshold" "invalid threshold message"

	# legacy ctdb_check_counter
	lib 'service_name=svc; ctdb_setup_state_dir service cc; ctdb_counter_init; ctdb_counter_incr
ctdb_check_counter error -ge 2 && echo below'
	expect_eq "below" "ctdb_check_counter below limit"
	lib 'service_name=svc; ctdb_setup_state_dir service cc; ctdb_counter_incr
ctdb_check_counter quiet -ge 2 || echo hit'
	expect_eq "hit" "ctdb_check_counter quiet"
	lib 'service_name=svc; ctdb_setup_state_dir service cc; ctdb_check_counter error -ge 2; echo not-reached'
	expect_rc 1 "ctdb_check_counter error exits 1"
	expect_eq "ERROR: 2 consecutive failures for svc, marking node unhealthy" "ctdb_check_counter message"

	# reconfigure flags
	lib 'ctdb_setup_state_dir service rc
ctdb_service_needs_reconfigure && echo yes || echo no
ctdb_service_set_reconfigure; ctdb_service_needs_reconfigure && echo yes || echo no
ctdb_service_unset_reconfigure; ctdb_service_needs_reconfigure && echo yes || echo no'
	expect_eq "no
yes
no" "reconfigure set/needs/unset"

	# cached node facts
	lib 'STUB_PNN=3 ctdb_get_pnn; STUB_PNN=4 ctdb_get_pnn'
	expect_eq "3
3" "ctdb_get_pnn asks once and caches"
	OUT=$(cat "$CTDB_SCRIPT_VARDIR/my-pnn")
	expect_eq "3" "my-pnn cache file"
	OUT=$(grep -c '^pnn$' "$STUB_LOG")
	expect_eq "1" "rctdb pnn called once"
	lib 'ctdb_get_ip_address; ctdb_get_ip_address'
	expect_eq "192.0.2.12
192.0.2.12" "ctdb_get_ip_address from -X nodestatus (non-zero exit)"
	OUT=$(grep -c 'nodestatus' "$STUB_LOG")
	expect_eq "1" "rctdb -X nodestatus called once"

	# options
	printf 'A=1\nB=1\n' >"$BASE/script.options"
	printf '# comment\nB=2\n' >"$BASE/events/legacy/50.opt.options"
	lib 'load_script_options "$CTDB_BASE/events/legacy/50.opt.script"; echo "$A $B"'
	expect_eq "1 2" "load_script_options: script.options then NN.name.options"
	lib 'load_script_options "$CTDB_BASE/events/legacy/50.opt"; echo "$A $B"'
	expect_eq "1 2" "load_script_options without .script suffix"
	mkdir -p "$T/etc/default"
	echo 'SYSVAR=from-default' >"$T/etc/default/rctdbtest"
	lib 'CTDB_SYS_ETCDIR="'"$T"'/etc"; load_system_config rctdbtest; echo "$SYSVAR"'
	expect_eq "from-default" "load_system_config reads /etc/default/NAME"
	rm -f "$BASE/script.options" "$BASE/events/legacy/50.opt.options"

	# rctdb.conf reader
	cat >"$BASE/rctdb.conf" <<'CONF'
# comment
[Logging]
	log level = NOTICE
[ CLUSTER ]
	; cluster lock = /commented
	cluster   lock  =   /a/b   c
	recovery lock = /old
	nodes list = /x\
/y
[other]
	cluster lock = /wrong
CONF
	lib 'rctdb_config_get cluster "cluster lock"'
	expect_eq "/a/b c" "rctdb_config_get: case-insensitive section, whitespace collapsed"
	lib 'rctdb_config_get logging "log level"'
	expect_eq "NOTICE" "rctdb_config_get: other section"
	lib 'rctdb_config_get cluster "nodes list"'
	expect_eq "/x/y" "rctdb_config_get: continuation line"
	lib 'rctdb_config_get cluster "leader timeout"'
	expect_rc 1 "rctdb_config_get: unset key"
	rm -f "$BASE/rctdb.conf"
	lib 'rctdb_config_get cluster "cluster lock"'
	expect_rc 1 "rctdb_config_get: no file"

	# logging
	lib 'CTDB_LOGGING="file:'"$T"'/log"; script_log mytag "hello there"'
	OUT=$(cat "$T/log" 2>/dev/null)
	expect_has "mytag: hello there" "script_log to file:"
	lib 'echo piped | script_log mytag'
	expect_eq "mytag: piped" "script_log to stderr by default, from stdin"

	# interfaces that need no namespace
	lib 'interface_monitor lo && echo up'
	expect_eq "up" "interface_monitor: lo is always up"
	lib 'interface_monitor nosuchif0'
	expect_rc 1 "interface_monitor: missing interface"
	expect_eq "ERROR: Monitored interface nosuchif0 does not exist" "missing interface message"
	lib 'have_public_addresses && echo yes || echo no'
	expect_eq "no" "have_public_addresses without the file"
	printf '# comment\n\n198.51.100.10/24 pub0\n  198.51.100.11/24\tpub0,pub1 extra\n198.51.100.12/24 pub2\n' \
		>"$BASE/public_addresses"
	lib 'have_public_addresses && echo yes; get_public_ifaces'
	expect_eq "yes
pub0
pub1
pub2" "get_public_ifaces from public_addresses"
	lib 'STUB_IFACES=1 get_public_ifaces'
	expect_eq "pub0
pub1
pub2" "get_public_ifaces with -X ifaces supported"
}

group_bounded ()
{
	CUR="bounded[$SH]"
	sandbox
	lib 'run_bounded 5 echo hi'
	expect_eq "hi" "run_bounded passes output"
	expect_rc 0 "run_bounded passes success"
	lib 'run_bounded 5 sh -c "echo out; echo err >&2; exit 3"'
	expect_rc 3 "run_bounded passes the exit status"
	expect_has "out" "run_bounded stdout"
	expect_has "err" "run_bounded stderr"
	lib 'x=$(run_bounded 5 echo captured); echo "[$x]"'
	expect_eq "[captured]" "run_bounded in command substitution"

	_hang="$T/bin/hang-$MARK"
	printf '#!/bin/sh\ntrap "" TERM INT HUP\nwhile :; do sleep 1; done\n' >"$_hang"
	chmod +x "$_hang"
	_t0=$(now_ms)
	lib 'run_bounded 1 "'"$_hang"'"'
	_ms=$(($(now_ms) - _t0))
	expect_rc 124 "run_bounded gives up on a hung command"
	expect_has "still running after 1s" "give-up message"
	check "gave up after 1s, before 2.5s (${_ms}ms)" test "$_ms" -ge 900 -a "$_ms" -lt 2500
	_t0=$(now_ms)
	lib 'run_bounded 1 "'"$_hang"'"'
	_ms=$(($(now_ms) - _t0))
	expect_rc 124 "second call while the first still hangs"
	expect_has "is still running, not starting another" "second call message"
	check "second call returns at once (${_ms}ms)" test "$_ms" -lt 700
	# (the run_bounded subshells carry the path too: count the scripts)
	OUT=$(pgrep -f -- "^/bin/sh $_hang" | wc -l)
	expect_eq "1" "exactly one hung process"
	_t0=$(now_ms)
	lib 'x=$(run_bounded 1 "'"$_hang"'" other-args); echo "rc=$?"'
	_ms=$(($(now_ms) - _t0))
	expect_has "rc=124" "command substitution of a hung command returns"
	check "command substitution not held by the leftover (${_ms}ms)" test "$_ms" -lt 2500
	kill_leftovers
	sleep 0.2
	lib 'run_bounded 1 "'"$_hang"'"'
	expect_has "still running after 1s" "after the leftover is gone a new run starts"
	kill_leftovers
}

group_housekeeping ()
{
	CUR="housekeeping[$SH]"
	sandbox
	mkdir -p "$CTDB_SCRIPT_VARDIR/service/x"
	echo stale >"$CTDB_SCRIPT_VARDIR/my-pnn"
	script 00.rctdb init
	expect_rc 0 "00.rctdb init"
	check "init recreates an empty CTDB_SCRIPT_VARDIR" test -d "$CTDB_SCRIPT_VARDIR" -a -z "$(ls -A "$CTDB_SCRIPT_VARDIR")"
	rm -rf "$CTDB_SCRIPT_VARDIR"
	script 00.rctdb init
	check "init creates a missing CTDB_SCRIPT_VARDIR" test -d "$CTDB_SCRIPT_VARDIR"
	for _ev in setup startup monitor startrecovery recovered ipreallocated shutdown "takeip pub0 198.51.100.1 24"; do
		# shellcheck disable=SC2086
		script 00.rctdb $_ev
		if [ "$RC" = 0 ] && [ -z "$OUT" ]; then pass "00.rctdb $_ev: nothing"; else fail "00.rctdb $_ev: rc $RC"; show; fi
	done
	: >"$T/afile"
	CTDB_SCRIPT_VARDIR="$T/afile/scripts" script 00.rctdb init
	if [ "$RC" != 0 ]; then pass "init fails when the dir cannot be made (rc $RC)"; else fail "init should fail"; fi
	expect_has "Failed to create $T/afile/scripts" "init failure message"
}

# reclock_conf PATH [KEY]: configure the cluster lock.
reclock_conf ()
{
	printf '[logging]\n\tlog level = NOTICE\n[cluster]\n\t%s = %s\n' \
		"${2:-cluster lock}" "$1" >"$BASE/rctdb.conf"
}

# A monitor run as rctdbd runs it: own process group, killed at exit.
monitor_like_rctdbd ()
{
	_t0=$(now_ms)
	setsid timeout 30 "$SH" "$BASE/events/legacy/01.reclock" monitor >"$T/mon.out" 2>&1 &
	_mpid=$!
	wait "$_mpid"
	RC=$?
	MS=$(($(now_ms) - _t0))
	kill -KILL -- "-$_mpid" 2>/dev/null
	OUT=$(cat "$T/mon.out")
}

group_reclock ()
{
	CUR="reclock[$SH]"
	sandbox
	_state="$CTDB_SCRIPT_VARDIR/service/reclock"

	script 01.reclock init
	expect_rc 0 "no rctdb.conf: init"
	script 01.reclock monitor
	expect_rc 0 "no rctdb.conf: monitor"
	expect_eq "" "no rctdb.conf: silent"
	printf '[cluster]\n\tcluster lock = !/usr/bin/false helper\n' >"$BASE/rctdb.conf"
	script 01.reclock monitor
	expect_rc 0 "helper lock: monitor"
	check "helper lock: no probe state" test ! -e "$_state/probe.pid"

	_lock="$T/cfs/ctdb/sub/reclock"
	reclock_conf "$_lock" "recovery lock"
	script 01.reclock init
	expect_rc 0 "init with the old 'recovery lock' key"
	check "init creates the lock directory" test -d "$T/cfs/ctdb/sub"
	rm -rf "$T/cfs"
	reclock_conf "$_lock"
	script 01.reclock init
	check "init with 'cluster lock' creates the lock directory" test -d "$T/cfs/ctdb/sub"

	# A reachable lock: directory only (lock not taken yet), then the file.
	for _what in "directory only" "lock file present"; do
		[ "$_what" = "directory only" ] || : >"$_lock"
		for _i in 1 2 3; do
			script 01.reclock monitor
			if [ "$RC" = 0 ] && [ -z "$OUT" ] && [ "$MS" -lt 1000 ]; then
				pass "reachable lock ($_what) run $_i: rc 0, silent, ${MS}ms"
			else
				fail "reachable lock ($_what) run $_i: rc $RC, ${MS}ms"
				show
			fi
		done
	done
	check "no probe left in flight after a quick probe" test ! -e "$_state/probe.pid"

	# Unreachable (the directory is gone): fails at the threshold.
	rm -rf "$T/cfs"
	script 01.reclock monitor
	expect_rc 0 "unreachable 1/3"
	expect_has "WARNING: cluster lock file $_lock unreachable: probe \"stat\" failed" "unreachable warning"
	script 01.reclock monitor
	expect_rc 0 "unreachable 2/3"
	script 01.reclock monitor
	expect_rc 1 "unreachable 3/3 fails"
	expect_has "ERROR: cluster lock file $_lock unreachable" "unreachable error"
	expect_has "ERROR: reclock: fail count 3 >= threshold 3" "failcount message"
	mkdir -p "$T/cfs/ctdb/sub"
	script 01.reclock monitor
	expect_rc 0 "reachable again"
	expect_eq "NOTICE: reclock: no longer failing" "recovery notice"
	rm -rf "$T/cfs"
	CTDB_RECLOCK_FAIL_THRESHOLD=2 script 01.reclock monitor
	expect_rc 0 "CTDB_RECLOCK_FAIL_THRESHOLD=2: 1/2"
	CTDB_RECLOCK_FAIL_THRESHOLD=2 script 01.reclock monitor
	expect_rc 1 "CTDB_RECLOCK_FAIL_THRESHOLD=2: 2/2 fails"
	mkdir -p "$T/cfs/ctdb/sub"
	script 01.reclock monitor
	expect_rc 0 "reachable again (2)"

	# A hung cluster filesystem: the probe never returns.
	_hang="$T/bin/hungstat-$MARK"
	printf '#!/bin/sh\ntrap "" TERM INT HUP\nwhile :; do sleep 1; done\n' >"$_hang"
	chmod +x "$_hang"
	export CTDB_RECLOCK_PROBE_CMD="$_hang" CTDB_RECLOCK_PROBE_TIMEOUT=1
	_slow=0
	_max=0
	_rcs=""
	_first_fail=0
	for _i in $(seq 1 30); do
		monitor_like_rctdbd
		_rcs="$_rcs$RC"
		[ "$MS" -lt 1000 ] || _slow=$((_slow + 1))
		[ "$MS" -le "$_max" ] || _max="$MS"
		[ "$RC" = 0 ] || [ "$_first_fail" != 0 ] || _first_fail=$_i
		sleep 0.1
	done
	_last_out="$OUT"
	_last_rc="$RC"
	check "hung fs: all 30 monitors returned in < 1s (slowest ${_max}ms)" test "$_slow" = 0
	OUT=$(pgrep -f -- "$_hang" | wc -l | tr -d ' ')
	expect_eq "1" "hung fs: exactly one probe process after 30 monitors"
	read -r _ppid _ <"$_state/probe.pid"
	check "hung fs: recorded probe pid $_ppid is alive" kill -0 "$_ppid"
	check "hung fs: the probe leads its own session (survives the script's group kill)" \
		test "$(ps -o sid= -p "$_ppid" | tr -d ' ')" = "$_ppid"
	check "hung fs: early monitors pass while the probe is young ($_rcs)" test "${_rcs:0:1}" = 0
	check "hung fs: monitors fail after the threshold (first failure: run $_first_fail)" \
		test "$_first_fail" -gt 1 -a "${_rcs:29:1}" = 1
	OUT="$_last_out"
	RC="$_last_rc"
	expect_rc 1 "hung fs: last monitor fails"
	expect_has "ERROR: cluster lock file $_lock unreachable: probe pid $_ppid stuck for" "hung fs: message"

	# Exact threshold counting: a probe timeout of 0 counts every check.
	kill -KILL -- "-$_ppid" 2>/dev/null
	sleep 0.2
	unset CTDB_RECLOCK_PROBE_CMD
	script 01.reclock monitor
	expect_rc 1 "killed probe: counted as a failure"
	expect_has "probe pid $_ppid ended without a result" "killed probe: message"
	script 01.reclock monitor
	expect_rc 0 "after the hang: a fresh probe succeeds"
	expect_eq "NOTICE: reclock: no longer failing" "after the hang: notice"
	# That monitor started the next probe: let it finish before the hang.
	for _i in $(seq 1 50); do
		[ -e "$_state/probe.result" ] && break
		sleep 0.1
	done
	export CTDB_RECLOCK_PROBE_CMD="$_hang" CTDB_RECLOCK_PROBE_TIMEOUT=0
	_rcs=""
	for _i in 1 2 3 4 5; do
		script 01.reclock monitor
		_rcs="$_rcs$RC"
	done
	OUT="$_rcs"
	expect_eq "00011" "probe timeout 0: fails exactly at the 3rd stuck check"
	OUT=$(pgrep -f -- "$_hang" | wc -l | tr -d ' ')
	expect_eq "1" "probe timeout 0: still one probe"
	unset CTDB_RECLOCK_PROBE_CMD CTDB_RECLOCK_PROBE_TIMEOUT
	kill_leftovers
	OUT=$(pgrep -f -- "$_hang" | wc -l | tr -d ' ')
	expect_eq "0" "leftover probes killed"
}

######################################################################
# interface: a private network namespace

# ns_setup SUFFIX: namespace with pub0<->pub0p, pub1<->pub1p, IPv6 off.
ns_setup ()
{
	NS="rctdbt-$$-scripts-$1"
	ip netns del "$NS" 2>/dev/null
	ip netns add "$NS" || return 1
	NAMESPACES="$NAMESPACES $NS"
	ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 || return 1
	ip netns exec "$NS" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 || return 1
	ip -n "$NS" link set lo up || return 1
	for _i in 0 1; do
		ip -n "$NS" link add "pub$_i" type veth peer name "pub${_i}p" || return 1
		ip -n "$NS" link set "pub$_i" up || return 1
		ip -n "$NS" link set "pub${_i}p" up || return 1
	done
	# A non-public address, which the scripts must leave alone.
	ip -n "$NS" addr add 192.0.2.10/24 dev pub0 || return 1
	ip -n "$NS" addr add 192.0.2.1/24 dev pub0p || return 1
	NETNS_EXEC="ip netns exec $NS"
}

ns_teardown ()
{
	ip netns del "$NS" 2>/dev/null
	NAMESPACES=${NAMESPACES// $NS/}
	NETNS_EXEC=""
}

# has_addr IFACE PREFIX: is PREFIX on IFACE in the namespace?
has_addr () { ip -n "$NS" -o addr show dev "$1" | grep -q " inet $2 "; }
no_addr () { ! ip -n "$NS" -o addr show | grep -q " inet $1/"; }

# Wait (≤ 3 s) until IFACE has/lacks carrier.
wait_carrier ()
{
	for _i in $(seq 1 30); do
		_c=$(ip netns exec "$NS" cat "/sys/class/net/$1/carrier" 2>/dev/null)
		[ "$_c" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

group_interface ()
{
	CUR="interface[$SH]"
	if [ "$(id -u)" != 0 ]; then
		skip "needs root for a network namespace"
		return
	fi
	if ! ns_setup "$SH"; then
		fail "cannot set up network namespace"
		ns_teardown
		return
	fi
	sandbox

	# No public_addresses file.
	script 10.interface init
	expect_rc 0 "no public_addresses: init"
	expect_eq "No public addresses file found" "no public_addresses: init message"
	for _ev in monitor startup shutdown "takeip pub0" "releaseip pub0 198.51.100.10 24"; do
		# shellcheck disable=SC2086
		script 10.interface $_ev
		if [ "$RC" = 0 ] && [ -z "$OUT" ]; then pass "no public_addresses: $_ev exits 0"; else fail "no public_addresses: $_ev: rc $RC"; show; fi
	done

	cat >"$BASE/public_addresses" <<'PA'
# test public addresses
198.51.100.10/24 pub0
198.51.100.11/24 pub0,pub1
198.51.100.20/24 pub1
PA

	# init removes stale public addresses, nothing else.
	ip -n "$NS" addr add 198.51.100.20/24 dev pub1
	script 10.interface init
	expect_rc 0 "init"
	expect_has "Removing public address 198.51.100.20/24 from device pub1" "init reports the stale address"
	check "init removed the stale public address" no_addr 198.51.100.20
	check "init left 192.0.2.10 alone" has_addr pub0 192.0.2.10/24

	# takeip
	script 10.interface takeip pub0 198.51.100.10 24
	expect_rc 0 "takeip pub0 198.51.100.10/24"
	check "198.51.100.10/24 is on pub0" has_addr pub0 198.51.100.10/24
	OUT=$(ip -n "$NS" -o addr show dev pub0)
	expect_has "198.51.100.10/24 brd 198.51.100.255" "takeip sets the broadcast address"
	script 10.interface takeip pub1 198.51.100.11 24
	check "198.51.100.11/24 is on pub1" has_addr pub1 198.51.100.11/24
	script 10.interface takeip nosuch0 198.51.100.20 24
	expect_rc 1 "takeip on a missing interface fails"
	check "failed takeip added nothing" no_addr 198.51.100.20

	# updateip
	script 10.interface updateip pub1 pub0 198.51.100.11 24
	expect_rc 0 "updateip pub1 -> pub0"
	check "198.51.100.11 moved to pub0" has_addr pub0 198.51.100.11/24
	check "198.51.100.11 left pub1" test -z "$(ip -n "$NS" -o addr show dev pub1 | grep 198.51.100.11)"
	script 10.interface updateip pub1 pub0 198.51.100.11 24
	expect_rc 0 "redundant updateip"
	expect_eq 'Redundant "updateip" - 198.51.100.11 already on pub0' "redundant updateip message"
	ip -n "$NS" addr add 198.51.100.20/24 dev pub1
	script 10.interface updateip __none__ pub0 198.51.100.20 24
	expect_rc 0 "updateip from __none__"
	check "updateip from __none__ moved 198.51.100.20 to pub0" has_addr pub0 198.51.100.20/24
	check "... and off pub1" test -z "$(ip -n "$NS" -o addr show dev pub1 | grep 198.51.100.20)"
	script 10.interface releaseip pub0 198.51.100.20 24

	# releaseip; deleting the primary must keep the secondary.
	script 10.interface releaseip pub0 198.51.100.10 24
	expect_rc 0 "releaseip pub0 198.51.100.10/24"
	check "198.51.100.10 is gone" no_addr 198.51.100.10
	check "secondary 198.51.100.11 survived (promote_secondaries)" has_addr pub0 198.51.100.11/24
	OUT=$(ip netns exec "$NS" cat /proc/sys/net/ipv4/conf/pub0/promote_secondaries)
	expect_eq "1" "promote_secondaries set on pub0"
	script 10.interface releaseip pub1 198.51.100.11 24
	expect_rc 0 "releaseip naming the wrong interface"
	expect_has "WARNING: Public IP 198.51.100.11 hosted on interface pub0 but VNN says pub1" "wrong interface warning"
	check "198.51.100.11 is gone" no_addr 198.51.100.11
	script 10.interface releaseip pub0 198.51.100.10 24
	expect_rc 0 "releaseip of an address that is not there"
	expect_eq "WARNING: Unable to determine interface for IP 198.51.100.10" "not-there warning"
	ip -n "$NS" addr add 198.51.100.20/25 dev pub1
	script 10.interface releaseip pub1 198.51.100.20 24
	expect_rc 0 "releaseip with a different netmask"
	expect_has "WARNING: Public IP 198.51.100.20 has 25 bit netmask but VNN says 24" "netmask warning"
	check "198.51.100.20/25 is gone" no_addr 198.51.100.20

	# monitor
	script 10.interface monitor
	expect_rc 0 "monitor, all links up"
	expect_eq "" "monitor, all links up: silent"
	check "unsupported setifacelink remembered" test -e "$CTDB_SCRIPT_VARDIR/.unsupported.setifacelink"
	ip -n "$NS" link set pub1p down
	wait_carrier pub1 0 || fail "pub1 carrier did not drop"
	script 10.interface monitor
	expect_rc 1 "monitor, pub1 without link"
	expect_has "ERROR: No link on the public network interface pub1" "no link message"
	expect_lacks "pub0" "pub0 not reported"
	CTDB_PARTIALLY_ONLINE_INTERFACES=yes script 10.interface monitor
	expect_rc 0 "monitor, pub1 down, CTDB_PARTIALLY_ONLINE_INTERFACES=yes"
	echo "CTDB_PARTIALLY_ONLINE_INTERFACES=yes" >"$BASE/events/legacy/10.interface.options"
	script 10.interface monitor
	expect_rc 0 "CTDB_PARTIALLY_ONLINE_INTERFACES=yes from 10.interface.options"
	ip -n "$NS" link set pub0p down
	wait_carrier pub0 0 || fail "pub0 carrier did not drop"
	script 10.interface monitor
	expect_rc 1 "all public interfaces down fails even when partially online is allowed"
	rm -f "$BASE/events/legacy/10.interface.options"
	script 10.interface startup
	expect_rc 0 "startup ignores the link state"

	# link states reported where the tool supports it
	rm -rf "$CTDB_SCRIPT_VARDIR"
	: >"$STUB_LOG"
	STUB_IFACES=1 script 10.interface monitor
	OUT=$(cat "$STUB_LOG")
	expect_has "setifacelink pub0 down" "setifacelink pub0 down reported"
	expect_has "setifacelink pub1 down" "setifacelink pub1 down reported"
	ip -n "$NS" link set pub0p up
	ip -n "$NS" link set pub1p up
	if ! wait_carrier pub0 1 || ! wait_carrier pub1 1; then
		fail "carrier did not come back"
	fi
	: >"$STUB_LOG"
	STUB_IFACES=1 script 10.interface monitor
	expect_rc 0 "monitor after the links came back"
	OUT=$(cat "$STUB_LOG")
	expect_has "setifacelink pub0 up" "setifacelink pub0 up reported"
	expect_has "setifacelink pub1 up" "setifacelink pub1 up reported"

	# an interface set administratively down is brought back up
	ip -n "$NS" link set pub0 down
	script 10.interface monitor
	expect_rc 0 "monitor brings an admin-down interface up"
	OUT=$(ip -n "$NS" -o link show dev pub0)
	expect_has ",UP" "pub0 is up again"

	# missing interface
	echo "198.51.100.30/24 nosuch0" >>"$BASE/public_addresses"
	script 10.interface monitor
	expect_rc 1 "monitor with a missing interface"
	expect_has "ERROR: Monitored interface nosuch0 does not exist" "missing interface message"
	sed -i -e '/nosuch0/d' "$BASE/public_addresses"

	# shutdown removes every public address
	script 10.interface takeip pub0 198.51.100.10 24
	script 10.interface takeip pub1 198.51.100.20 24
	script 10.interface shutdown
	expect_rc 0 "shutdown"
	check "shutdown removed 198.51.100.10" no_addr 198.51.100.10
	check "shutdown removed 198.51.100.20" no_addr 198.51.100.20
	check "shutdown left 192.0.2.10" has_addr pub0 192.0.2.10/24
	script 10.interface ipreallocated
	expect_rc 0 "ipreallocated"

	# ctdb_check_tcp_ports: nothing listens in a fresh namespace
	OUT=$(ip netns exec "$NS" timeout 30 "$SH" -c '. "$CTDB_BASE/functions"; service_name=svc; ctdb_check_tcp_ports 4379' 2>&1)
	RC=$?
	expect_rc 1 "ctdb_check_tcp_ports: nothing listening"
	expect_eq "svc not listening on TCP port 4379" "ctdb_check_tcp_ports message"
	if command -v python3 >/dev/null 2>&1; then
		ip netns exec "$NS" timeout 20 python3 -c '
import socket, time
s = socket.socket(); s.bind(("192.0.2.10", 4379)); s.listen(1); time.sleep(15)' "$MARK" &
		_lpid=$!
		for _i in $(seq 1 50); do
			ip netns exec "$NS" ss -ltn | grep -q ':4379 ' && break
			sleep 0.1
		done
		OUT=$(ip netns exec "$NS" timeout 30 "$SH" -c '. "$CTDB_BASE/functions"; service_name=svc; ctdb_check_tcp_ports 4379' 2>&1)
		RC=$?
		expect_rc 0 "ctdb_check_tcp_ports: listening"
		kill "$_lpid" 2>/dev/null
		wait "$_lpid" 2>/dev/null
	else
		skip "python3 not installed: no listener for ctdb_check_tcp_ports"
	fi

	ns_teardown
	check "namespace deleted" test -z "$(ip netns list | grep -w "$NS")"
}

######################################################################

SHELLS=""
for _sh in ${TEST_SHELLS:-dash bash}; do
	if command -v "$_sh" >/dev/null 2>&1; then
		SHELLS="$SHELLS $_sh"
	fi
done
[ -n "$SHELLS" ] || { echo "run.sh: none of the shells ${TEST_SHELLS:-dash bash} found" >&2; exit 1; }

# Namespaces of earlier runs that died without cleaning up.
for _ns in $(ip netns list 2>/dev/null | awk '{ print $1 }' | grep -E '^rctdbt-[0-9]+-scripts-' || true); do
	_owner=${_ns#rctdbt-}
	_owner=${_owner%%-*}
	[ -d "/proc/$_owner" ] || ip netns del "$_ns" 2>/dev/null
done

GROUPS_TO_RUN="${*:-$ALL_GROUPS}"
for _g in $GROUPS_TO_RUN; do
	case " $ALL_GROUPS " in
	*" $_g "*) ;;
	*) echo "run.sh: unknown group \"$_g\" (groups: $ALL_GROUPS)" >&2; exit 2 ;;
	esac
done

for _g in $GROUPS_TO_RUN; do
	echo "# group $_g"
	if [ "$_g" = lint ]; then
		group_lint
		continue
	fi
	for SH in $SHELLS; do
		"group_$_g"
	done
done

kill_leftovers
echo "${PASS} passed, ${FAIL} failed, ${SKIP} skipped"
[ "$FAIL" = 0 ]
