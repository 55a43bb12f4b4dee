#!/usr/bin/env bash
# Peak memory of Parley while an `http` step gets a 2 GB answer (issue 13, item 3).
# A local server streams 2 GiB in chunked encoding (no Content-Length); a sandbox message
# runs a flow whose http step calls it; the script prints the step's outcome and the
# daemon's VmHWM (peak RSS) and VmRSS from /proc. Usage: scripts/http_step_rss.sh [binary]
set -euo pipefail
BIN=${1:-target/release/parley}
DIR=$(mktemp -d)
PORT_BIG=18097
PORT=18098
mkdir -p "$DIR/flows"
cat > "$DIR/big.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("content-type", "application/octet-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        chunk = b"x" * 65536
        frame = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        sent = 0
        try:
            while sent < 2 * 1024**3:
                self.wfile.write(frame)
                sent += len(chunk)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        sys.stderr.write("server: client stopped after %d MiB\n" % (sent // 1024**2))
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
cat > "$DIR/flows/big.yaml" <<YAML
id: big
triggers: [{ keyword: [big] }]
steps:
  - http: { method: GET, url: "http://127.0.0.1:$PORT_BIG/", timeout: 30s, save_as: res, on_error: failed }
  - send: "got {{ vars.res.status }}"
  - end: {}
  - id: failed
    send: "the http step failed"
YAML
cat > "$DIR/parley.yaml" <<YAML
listen: 127.0.0.1:$PORT
database: { url: "sqlite://$DIR/parley.db" }
flows: { dir: "$DIR/flows", allow_private_networks: true }
senders: [{ id: 1, name: Sandbox, channel: sandbox, phone_number: "+15550000000" }]
log: { level: warn }
YAML
python3 "$DIR/big.py" $PORT_BIG & SERVER=$!
"$BIN" serve --config "$DIR/parley.yaml" & PARLEY=$!
trap 'kill $SERVER $PARLEY 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT_BIG) 2>/dev/null && break; sleep 0.1; done
grep -E 'VmHWM|VmRSS' /proc/$PARLEY/status | sed 's/^/before: /'
curl -s -H 'content-type: application/json' "http://127.0.0.1:$PORT/sandbox/api/messages" \
  -d '{"from": "+34600000001", "text": "big"}' | python3 -c '
import json, re, sys
a = json.load(sys.stdin)
print("reply:", [r.get("summary") for r in a.get("replies", [])])
print("why:", sorted(set(re.findall(r"[^\"]*larger than[^\"]*", json.dumps(a.get("trace"))))))'
grep -E 'VmHWM|VmRSS' /proc/$PARLEY/status | sed 's/^/after:  /'
