#!/usr/bin/env node
// Bundles the CLI (src/cli/main.ts) for a fast start. Run by `npm run build` and `prepare` after tsc.
//
// - dist/tsops.cjs: the whole CLI in one CommonJS file, what bin/tsops runs. What tsops imports
//   lazily (stores, key sources, config, the age implementation) stays lazy inside it: a module's
//   top-level code runs on first use, and V8 compiles a function only when it is first called.
//   One file means no module resolution and no chunk loading (on Node 20 each ES module file costs
//   its resolve/load/link steps, one after another).
// - dist/tsops.cjs.cache: V8's code cache of that file (the bytecode of the functions a small
//   decryption runs), made by a warm-up run right after the build. bin/tsops hands it to V8, which
//   then skips parsing and compiling; V8 refuses a cache made by another Node or V8 build or with
//   other V8 flags, and bin/tsops then just compiles (slower only).
// - dist/tsops.mjs + dist/bundle/: the same CLI as ES modules with code splitting (lazy chunks).
// - The heavy optional dependencies (cloud SDKs, OpenPGP.js, gRPC) stay external: they load from
//   node_modules, and only when a file uses that key type.
// - bin/tsops runs a bundle only when it is at least as new as dist/src/cli/main.js, so a plain
//   `tsc` rebuild never runs stale bundled code; a failed bundle build removes the old bundles.
//
// usage: node scripts/bundle.mjs [OUTDIR]   (default: dist)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

/**
 * commander loads node:child_process at start (about 5 ms on Node 20) for executable subcommands,
 * which tsops has none of: load it on first use instead. Applied only where the expected source
 * text is found.
 */
const commanderLazyChildProcess = {
  name: 'commander-lazy-child-process',
  setup(build) {
    build.onLoad({ filter: /[\\/]commander[\\/]lib[\\/]command\.js$/ }, (args) => {
      const src = readFileSync(args.path, 'utf8');
      const patched = src.replace(
        "const childProcess = require('node:child_process');",
        "const childProcess = { spawn: (...a) => require('node:child_process').spawn(...a) };",
      );
      if (patched === src) console.warn('bundle: note: commander no longer loads child_process the expected way');
      return { contents: patched, loader: 'js' };
    });
  },
};

// never leave an old bundle behind a failed build
rmSync(join(outdir, 'bundle'), { recursive: true, force: true });
rmSync(join(outdir, 'tsops.mjs'), { force: true });
rmSync(join(outdir, 'tsops.cjs'), { force: true });
rmSync(join(outdir, 'tsops.cjs.cache'), { force: true });

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
  plugins: [readAllWithoutFetch, commanderLazyChildProcess],
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

/**
 * The one-file CommonJS bundle bin/tsops runs. `import.meta.url` (runDeep's worker, the lazy loads
 * through createRequire, the gcpkms client's package lookup) becomes this file's URL. Imports of the external packages (static or
 * dynamic) become require() calls that run when the module that needs them first runs: every one
 * of them has a CommonJS build. No import() is left in the file: on Node 20, code compiled from a
 * V8 code cache cannot run import() (no loader callback is restored with it).
 */
const cjsOptions = {
  absWorkingDir: root,
  entryPoints: ['src/cli/main.ts'],
  outfile: join(outdir, 'tsops.cjs'),
  bundle: true,
  splitting: false,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  supported: { 'dynamic-import': false },
  plugins: [readAllWithoutFetch, commanderLazyChildProcess],
  // (a getter: the URL is built only when used)
  define: { 'import.meta': '__tsopsMeta' },
  banner: { js: "var __tsopsMeta = { get url() { return require('node:url').pathToFileURL(__filename).href; } };" },
  legalComments: 'none',
  minifySyntax: true,
  minifyWhitespace: true,
  metafile: true,
  logLevel: 'silent',
};

function fail(e) {
  for (const err of e.errors ?? [{ text: e.message }]) {
    const where = err.location ? `${err.location.file}:${err.location.line}:${err.location.column}: ` : '';
    console.error(`bundle: ${where}${err.text}`);
  }
  rmSync(join(outdir, 'bundle'), { recursive: true, force: true });
  rmSync(join(outdir, 'tsops.mjs'), { force: true });
  rmSync(join(outdir, 'tsops.cjs'), { force: true });
  console.error('bundle: failed; bin/tsops will run dist/src/cli/main.js');
  process.exit(1);
}

let result, cjs;
try {
  result = await esbuild.build(options);
  cjs = await esbuild.build(cjsOptions);
} catch (e) {
  fail(e);
}
for (const w of [...result.warnings, ...cjs.warnings]) console.warn(`bundle: warning: ${w.text}`);

// One non-ASCII character makes V8 hold the whole source as a two-byte string: twice the memory,
// and garbage collection during every start. esbuild escapes them except in regular expressions.
{
  const text = readFileSync(cjsOptions.outfile, 'latin1');
  const at = text.search(/[\u0080-\uffff]/);
  if (at >= 0)
    console.warn(
      `bundle: warning: non-ASCII text in tsops.cjs (slower start): ${JSON.stringify(text.slice(at - 40, at + 10))}`,
    );
}

/**
 * The code cache: a child process loads dist/tsops.cjs exactly as bin/tsops does (same wrapper
 * text, same V8 flags), runs `--version` and small decryptions (YAML with comments, JSON, dotenv; the
 * demo key, no secret), and saves V8's cache of what they compiled. Only decryption: the cache's size
 * is paid by every start, and encryption's code compiles on use as before. The encrypted JSON and
 * dotenv files are made by a first child, so that its encryption code stays out of the cache.
 * Without a cache (a failed warm-up) bin/tsops only starts slower.
 */
const WARM_UP = String.raw`
const fs = require('node:fs'), path = require('node:path'), vm = require('node:vm'), Module = require('node:module');
const [mode, file, demo, tmp] = process.argv.slice(1);
const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'utf8')), { filename: file });
const mod = { exports: {} };
script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, path.dirname(file));
const { main } = mod.exports;
const recipient = /public key: (age1\w+)/.exec(fs.readFileSync(path.join(demo, 'keys.txt'), 'utf8'))[1];
process.env.SOPS_AGE_KEY_FILE = path.join(demo, 'keys.txt');
const plain = { 'w.json': '{"a": 1, "b": ["x", true]}\n', 'w.env': 'A=1\nB=x\n' };
(async () => {
  const run = async (...argv) => {
    const code = await main(argv);
    if (code !== 0) throw new Error('warm-up: tsops ' + argv.join(' ') + ' exited with ' + code);
  };
  if (mode === 'encrypt') {
    for (const [name, text] of Object.entries(plain)) {
      fs.writeFileSync(path.join(tmp, name), text);
      await run('encrypt', '--age', recipient, '--output', path.join(tmp, 'enc.' + name), path.join(tmp, name));
    }
    return;
  }
  await run('--version');
  await run('decrypt', path.join(demo, 'secrets.enc.yaml'));
  for (const name of Object.keys(plain)) await run('decrypt', path.join(tmp, 'enc.' + name));
  fs.writeFileSync(file + '.cache', script.createCachedData());
})().catch((e) => { console.error(e.message); process.exit(1); });
`;

const tmp = mkdtempSync(join(tmpdir(), 'tsops-warm-up-'));
try {
  for (const mode of ['encrypt', 'decrypt']) {
    const warm = spawnSync(
      process.execPath,
      ['-e', WARM_UP, mode, join(outdir, 'tsops.cjs'), join(root, 'fixtures', 'demo'), tmp],
      { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: tmp } },
    );
    if (warm.status !== 0) {
      console.warn(`bundle: note: no code cache (${warm.stderr.trim()})`);
      break;
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const outputs = Object.entries(result.metafile.outputs);
const total = outputs.reduce((n, [, o]) => n + o.bytes, 0);
const [entryName, entry] = outputs.find(([f]) => f.endsWith('tsops.mjs')) ?? ['tsops.mjs', { bytes: 0 }];
const [cjsName, cjsOut] = Object.entries(cjs.metafile.outputs)[0];
console.log(
  `bundle: ${cjsName} ${(cjsOut.bytes / 1024).toFixed(0)} KiB; ${entryName} ${(entry.bytes / 1024).toFixed(0)} KiB, ${outputs.length - 1} lazy chunks (${(total / 1024).toFixed(0)} KiB in all)`,
);
