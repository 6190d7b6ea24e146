#!/usr/bin/env node
// Bundles the CLI (src/cli/main.ts) into dist/tsops.mjs for a fast start: a few files to read and
// compile instead of a few hundred modules to resolve. Run by `npm run build` and `prepare` after tsc.
//
// - What tsops imports lazily (stores, key sources, config, the age implementation) stays lazy: code
//   splitting puts each in a chunk under dist/bundle/, loaded on first use.
// - The heavy optional dependencies (cloud SDKs, OpenPGP.js) stay external: they load from
//   node_modules, and only when a file uses that key type.
// - bin/tsops runs the bundle only when it is at least as new as dist/src/cli/main.js, so a plain
//   `tsc` rebuild never runs stale bundled code; a failed bundle build removes the old bundle.
//
// usage: node scripts/bundle.mjs [OUTDIR]   (default: dist)
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = resolve(process.argv[2] ?? join(root, 'dist'));

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  // esbuild is a devDependency: without it the CLI runs unbundled from dist/src (a slower start only)
  console.warn('bundle: esbuild is not installed; bin/tsops will run dist/src/cli/main.js');
  process.exit(0);
}

/** Loaded from node_modules at run time, and only by the key sources that need them. */
export const EXTERNAL = [
  '@aws-sdk/*',
  '@smithy/*',
  '@azure/*',
  '@google-cloud/*',
  'google-gax',
  '@grpc/*',
  '@huaweicloud/*',
  'openpgp',
];

/**
 * age-encryption (typage) collects a ReadableStream with `new Response(stream)`, and the first use of
 * `Response` makes Node 20 load its whole fetch implementation (undici): about a third of the time
 * of `tsops decrypt` on a small file. In the bundle, read the stream with its reader instead (same
 * bytes, same errors). Applied only where the expected source text is found, so a typage release
 * that changes it is bundled unchanged.
 */
const readAllWithoutFetch = {
  name: 'age-read-all-without-fetch',
  setup(build) {
    build.onLoad({ filter: /[\\/]age-encryption[\\/]dist[\\/]io\.js$/ }, (args) => {
      const src = readFileSync(args.path, 'utf8');
      const collect =
        'const r = stream.getReader(); const parts = []; let n = 0;' +
        ' try { for (;;) { const { done, value } = await r.read(); if (done) break; parts.push(value); n += value.length; } } finally { r.releaseLock(); }' +
        ' const all = new Uint8Array(n); let off = 0; for (const p of parts) { all.set(p, off); off += p.length; }';
      const patched = src
        .replace('return new Uint8Array(await new Response(stream).arrayBuffer());', `${collect} return all;`)
        .replace('return await new Response(stream).text();', `${collect} return new TextDecoder().decode(all);`);
      if (patched === src)
        console.warn('bundle: note: age-encryption no longer reads streams through Response; bundled unchanged');
      return { contents: patched, loader: 'js' };
    });
  },
};

// never leave an old bundle behind a failed build
rmSync(join(outdir, 'bundle'), { recursive: true, force: true });
rmSync(join(outdir, 'tsops.mjs'), { force: true });

const options = {
  absWorkingDir: root,
  entryPoints: { tsops: 'src/cli/main.ts' },
  outdir,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'bundle/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  plugins: [readAllWithoutFetch],
  // CommonJS dependencies (commander, yaml) call require() for Node's built-ins
  banner: {
    js: "import { createRequire as __tsopsCreateRequire } from 'node:module'; const require = __tsopsCreateRequire(import.meta.url);",
  },
  legalComments: 'none',
  // whitespace and syntax only: names stay readable in stack traces (--verbose) and profiles
  minifySyntax: true,
  minifyWhitespace: true,
  metafile: true,
  logLevel: 'silent',
};

let result;
try {
  result = await esbuild.build(options);
} catch (e) {
  for (const err of e.errors ?? [{ text: e.message }]) {
    const where = err.location ? `${err.location.file}:${err.location.line}:${err.location.column}: ` : '';
    console.error(`bundle: ${where}${err.text}`);
  }
  console.error('bundle: failed; bin/tsops will run dist/src/cli/main.js');
  process.exit(1);
}
for (const w of result.warnings) console.warn(`bundle: warning: ${w.text}`);

const outputs = Object.entries(result.metafile.outputs);
const total = outputs.reduce((n, [, o]) => n + o.bytes, 0);
const [entryName, entry] = outputs.find(([f]) => f.endsWith('tsops.mjs')) ?? ['tsops.mjs', { bytes: 0 }];
console.log(
  `bundle: ${entryName} ${(entry.bytes / 1024).toFixed(0)} KiB, ${outputs.length - 1} lazy chunks (${(total / 1024).toFixed(0)} KiB in all)`,
);
