#!/usr/bin/env bash
# Instructions per message: Parley under valgrind's callgrind, fed 20 webhooks/s by
# parley-bench (each message alone in its commits, no batching), counted over 25 s of
# steady traffic. Unlike CPU time on this shared virtual machine (±10 % between identical
# runs), the count repeats to within a few percent, so it shows cuts too small for a whole
# run to show. It counts instructions, not time: cache misses, system calls and
# wake-ups are not in it (BENCHMARKS.md, "Instructions per message").
#
# Needs valgrind (`apt-get install valgrind`) and a build with line tables:
#   cargo build --profile profiling --bins
#   scripts/instructions.sh target/profiling/parley [target/profiling/parley-bench]
# Prints the total per message, then Parley's functions by inclusive instructions per
# message; the callgrind file stays in the printed folder for callgrind_annotate.
set -euo pipefail
BIN=$(realpath "${1:-target/profiling/parley}")
BENCH=$(realpath "${2:-target/profiling/parley-bench}")
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 1; }
DIR=$(mktemp -d /tmp/parley-instructions.XXXXXX)
cat > "$DIR/parley" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file=$DIR/callgrind.%p "$BIN" "\$@"
EOF
chmod +x "$DIR/parley"
"$BENCH" --parley "$DIR/parley" --no-build --rate 20 --duration 70 --drain 20 > "$DIR/bench.log" 2>&1 &
BENCH_PID=$!
for _ in $(seq 120); do grep -q 'parley pid' "$DIR/bench.log" && break; sleep 1; done
PID=$(grep -o 'parley pid [0-9]*' "$DIR/bench.log" | awk '{print $3}')
URL=$(grep -o 'http://[0-9.:]*' "$DIR/bench.log" | head -n1)
sent() { curl -s "$URL/metrics" | awk '/^parley_messages_sent_total/ {n += $2} END {print n + 0}'; }
sleep 20 # start-up (under valgrind, tens of seconds) and the first messages
before=$(sent)
callgrind_control -z "$PID" >/dev/null
sleep 25
callgrind_control -d "$PID" >/dev/null
after=$(sent)
wait "$BENCH_PID" || true
FILE=$(ls -t "$DIR"/callgrind."$PID".* | head -n1)
messages=$((after - before))
total=$(callgrind_annotate "$FILE" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "$messages messages, $total instructions: $((total / messages)) per message (callgrind file: $FILE)"
callgrind_annotate --inclusive=yes "$FILE" 2>/dev/null |
  awk -v n="$messages" '/:parley::/ {c = $1; gsub(",", "", c); f = $0; sub(/^.*:parley::/, "parley::", f); sub(/ \[.*$/, "", f); sub(/ \([0-9,]+x\)$/, "", f);
    if (!seen[f]++ && c / n >= 1000) printf "%9d  %s\n", c / n, f}' | sort -rn | head -n 40
