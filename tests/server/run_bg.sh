#!/usr/bin/env bash
# run_bg.sh PIDFILE RCFILE LOGFILE CMD...: run CMD with output to LOGFILE,
# record its pid, wait, then record its exit status.  Started detached by
# lib.sh so that a daemon outlives the test script that started it (the
# fixture) and its exit status is still known to the one that stops it.
pidf=$1 rcf=$2 log=$3
shift 3
rm -f "$rcf"
"$@" >>"$log" 2>&1 </dev/null &
echo $! >"$pidf.tmp" && mv "$pidf.tmp" "$pidf"
wait $!
echo $? >"$rcf.tmp" && mv "$rcf.tmp" "$rcf"
