#!/bin/bash
# runone.sh BIN CAPTURE WORK [wrap...]: run-once of BIN on a fresh copy of CAPTURE in WORK; prints wall and figures.
bin=$1; cap=$2; work=$3; shift 3
rm -rf "$work"; mkdir -p "$work"; cp -a "$cap"/. "$work"/
orig=$(cat "$cap/.orig_root")
sed -i "s#$orig#$work#g" "$work/disclosured.toml"
s=$(date +%s.%N)
RUST_LIB_BACKTRACE=0 RUST_LOG="warn,disclosured=info" "$@" "$bin" --config "$work/disclosured.toml" run-once 2> "$work.log"
rc=$?
e=$(date +%s.%N)
line=$(grep "pass complete" "$work.log" | tail -1)
timing=$(grep "pass timing" "$work.log" | tail -1 | grep -o 'intake_ms=[0-9]* deliver_ms=[0-9]*')
echo "rc=$rc wall=$(echo "$e - $s" | bc) $(echo "$line" | grep -o 'reports=[0-9]*\|sent=[0-9]*\|cpu_ms=[0-9]*\|peak_rss_kib=[0-9]*' | tr '\n' ' ') $timing"
