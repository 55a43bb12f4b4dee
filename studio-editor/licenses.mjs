// Writes the licences of every npm package esbuild put into the bundle (read from its
// metafile, the first argument) to stdout: name, version, licence, and the licence text.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const meta = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const packages = new Set();
for (const input of Object.keys(meta.inputs)) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (m) packages.add(m[1]);
}
const out = ['Third-party software bundled in editor.js (the flow studio\'s editor), built by',
  'studio-editor/build.sh from the npm packages pinned in studio-editor/package-lock.json.', ''];
for (const name of [...packages].sort()) {
  const dir = join('node_modules', name);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  out.push('='.repeat(78), `${name} ${pkg.version} — ${pkg.license || 'see below'}`,
    pkg.homepage || (pkg.repository && (pkg.repository.url || pkg.repository)) || '', '');
  if (!file || !existsSync(join(dir, file))) throw new Error(`${name} has no licence file`);
  out.push(readFileSync(join(dir, file), 'utf8').trim(), '');
}
process.stdout.write(out.join('\n') + '\n');
