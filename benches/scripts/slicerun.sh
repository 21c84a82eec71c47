#!/bin/bash
# slicerun.sh CAPTURE SLICE: for each slice of SLICE messages of CAPTURE's inbox, in name order, run-once of
# disclosured-before and disclosured-after (copies of the two binaries placed beside this script; interleaved),
# each on its own store that grows slice by slice;
# prints per slice the CPU ms/report and wall ms/report of each from run-once's own log.
cap=$1; n=$2; here=$(cd "$(dirname "$0")" && pwd)
orig=$(cat "$cap/.orig_root")
for v in before after; do
  w=$here/w-slices-$v; rm -rf "$w"; mkdir -p "$w"; cp -a "$cap"/. "$w"/
  sed -i "s#$orig#$w#g" "$w/disclosured.toml"
  mkdir -p "$w/hold"; mv "$w/inbox/new/"* "$w/hold/"
done
total=$(ls "$here/w-slices-before/hold" | wc -l)
for ((k=0; k*n<total; k++)); do
  line="slice $k:"
  for v in before after; do
    w=$here/w-slices-$v
    ls "$w/hold" | sort | head -n "$n" | while read f; do mv "$w/hold/$f" "$w/inbox/new/"; done
    s=$(date +%s%N)
    RUST_LIB_BACKTRACE=0 RUST_LOG="warn,disclosured=info" "$here/disclosured-$v" --config "$w/disclosured.toml" run-once 2> "$w.log"
    e=$(date +%s%N)
    cpu=$(grep "pass complete" "$w.log" | grep -o 'cpu_ms=[0-9]*' | cut -d= -f2)
    rep=$(grep "pass complete" "$w.log" | grep -o ' reports=[0-9]*' | cut -d= -f2)
    line="$line $v cpu $(echo "scale=2; $cpu / $n" | bc) wall $(echo "scale=2; ($e - $s) / 1000000 / $n" | bc) (reports $rep);"
  done
  echo "$line"
done
