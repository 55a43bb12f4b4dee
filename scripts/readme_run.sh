#!/usr/bin/env bash
# The README as a new user walks it, from a fresh clone in a temporary folder: install,
# `parley init`, check, test, serve, every `curl` of the README's API section, simulate.
# `.ci/run` runs it; run it yourself with `scripts/readme_run.sh`.
#
# The build reuses this checkout's target folder (CARGO_TARGET_DIR), so it costs one release
# build, not a new download and compile of every dependency. With PARLEY_README_PROFILE=debug
# (`.ci/run` sets it) the install builds the dev profile instead: the same code and commands,
# but it reuses what `cargo test` has just compiled, where a release build of Parley is the
# longest step of CI (39 minutes on a slow day of this 2-core machine, against a 90-minute
# limit for the whole run).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
port=18080
server=""
cleanup() {
  [[ -n "$server" ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n== %s\n' "$*"; }

say "fresh clone"
git clone -q "$repo" "$work/parley"
cd "$work/parley"

say "install (README: Install)"
profile=()
[[ "${PARLEY_README_PROFILE:-release}" == debug ]] && profile=(--debug)
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}" \
  cargo install --quiet --path . --locked --root "$work/bin" "${profile[@]}"
export PATH="$work/bin/bin:$PATH"
parley --version

say "parley init myproject"
parley init "$work/myproject" | tee "$work/init.out"
eval "$(grep '^export PARLEY_KEY=' "$work/init.out")"
[[ -n "${PARLEY_KEY:-}" ]] || { echo "init printed no key"; exit 1; }
# The README's examples use port 8080; run on another so a developer's Parley is not in the way.
sed -i "s/127.0.0.1:8080/127.0.0.1:$port/" "$work/myproject/parley.yaml"

say "parley check / parley test"
parley check --config "$work/myproject/parley.yaml"
parley test --config "$work/myproject/parley.yaml"

say "parley serve (from another working directory: paths follow the config)"
(cd / && exec parley serve --config "$work/myproject/parley.yaml") >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/readyz"
echo

say "customers write first (the sandbox API), so their 24-hour windows are open"
for phone in +12345678901 +919812345678 +16315551181; do
  curl -fsS "http://127.0.0.1:$port/sandbox/api/messages" -H 'content-type: application/json' \
    -d "{\"from\": \"$phone\", \"name\": \"Reader\", \"text\": \"hi\"}" >/dev/null
done

say "every curl of the README's API section, as written"
# Each `curl` line of the sh blocks between "## API" and "## Benchmarks", joined with its
# continuation lines, run against this Parley. None may answer 401 (the key works) or 5xx,
# and every answer is JSON; the status of each is printed.
python3 - "$repo/README.md" "$port" <<'PY' >"$work/curls.sh"
import re, sys
text = open(sys.argv[1]).read()
api = text[text.index("\n## API\n"):text.index("\n## Benchmarks\n")]
for block in re.findall(r"```sh\n(.*?)```", api, re.S):
    joined = re.sub(r"\\\n\s*", " ", block)
    for line in joined.splitlines():
        line = line.strip()
        if line.startswith("curl"):
            line = re.sub(r"\s+#.*$", "", line)
            line = line.replace("localhost:8080", "localhost:" + sys.argv[2])
            print(line.replace("curl ", "curl -sS -o \"$BODY\" -w '%{http_code}' ", 1))
PY
export BODY="$work/body"
count=0
while IFS= read -r cmd; do
  code="$(eval "$cmd")"
  count=$((count + 1))
  printf '%s  %s\n' "$code" "${cmd:0:140}"
  if [[ "$code" == 401 || "$code" -ge 500 ]]; then
    echo "README example failed with $code:"; cat "$BODY"; echo; exit 1
  fi
  python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$BODY" \
    || { echo "not JSON:"; cat "$BODY"; exit 1; }
done <"$work/curls.sh"
[[ $count -ge 10 ]] || { echo "only $count curl examples found in the README"; exit 1; }

say "parley simulate"
parley simulate --config "$work/myproject/parley.yaml" --from +34600000001 hi

echo
echo "README walk-through: ok ($count API examples)"
