#!/bin/sh
# Rebuilds the studio page's editor bundle (src/http/studio/assets/editor.js, committed)
# and the licences of everything in it (src/http/studio/assets/LICENSES.txt) from the
# pinned npm packages (package-lock.json). Parley itself never needs Node.js: run this
# only to change the editor. Needs node and npm.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../src/http/studio/assets"
cd "$here"
npm ci --no-audit --no-fund
npx esbuild src/editor.js --bundle --minify --format=iife --target=es2020 \
  --legal-comments=none \
  --banner:js="/* CodeMirror 6 and its parts (MIT), bundled by studio-editor/build.sh; their licences: /studio/assets/LICENSES.txt */" \
  --metafile=node_modules/.meta.json --outfile="$out/editor.js"
node licenses.mjs node_modules/.meta.json > "$out/LICENSES.txt"
ls -l "$out/editor.js" "$out/LICENSES.txt"
