#!/usr/bin/env node
// Finds dead exports of src/: a name exported by a module under src/ that no other file of src/,
// test/, bench/ or scripts/ mentions, that the package entry (src/index.ts) does not re-export, and
// that its own module does not use either (dead code). With --all, also the exports used only
// inside their own module (the `export` could go). A cheap ts-prune: export names from the
// TypeScript compiler's parse, uses by whole-word search (a name merely mentioned counts as used).
//
// usage: node scripts/unused-exports.mjs [--all]     (exit 1 when dead code is found)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function files(dir, exts) {
  const out = [];
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p, exts));
    else if (exts.some((e) => name.endsWith(e))) out.push(p);
  }
  return out;
}

/** The names a module exports (declarations and `export { … }` lists; not re-exports of other modules). */
function exportsOf(file) {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const names = [];
  const exported = (n) => ts.getModifiers?.(n)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  for (const st of sf.statements) {
    if (ts.isVariableStatement(st) && exported(st)) {
      for (const d of st.declarationList.declarations) if (ts.isIdentifier(d.name)) names.push(d.name.text);
    } else if (
      (ts.isFunctionDeclaration(st) ||
        ts.isClassDeclaration(st) ||
        ts.isInterfaceDeclaration(st) ||
        ts.isTypeAliasDeclaration(st) ||
        ts.isEnumDeclaration(st)) &&
      exported(st) &&
      st.name
    ) {
      names.push(st.name.text);
    } else if (
      ts.isExportDeclaration(st) &&
      !st.moduleSpecifier &&
      st.exportClause &&
      ts.isNamedExports(st.exportClause)
    ) {
      for (const e of st.exportClause.elements) names.push(e.name.text);
    }
  }
  return names;
}

const sources = files(join(root, 'src'), ['.ts']);
const everything = [
  ...sources,
  ...files(join(root, 'test'), ['.ts']),
  ...files(join(root, 'bench'), ['.ts']),
  ...files(join(root, 'scripts'), ['.mjs', '.js']),
  join(root, 'bin', 'tsops'),
];
const texts = new Map(everything.map((f) => [f, readFileSync(f, 'utf8')]));
const entry = readFileSync(join(root, 'src', 'index.ts'), 'utf8');

const all = process.argv.includes('--all');
const unused = [];
const localOnly = [];
for (const file of sources) {
  if (file.endsWith(join('src', 'index.ts'))) continue;
  for (const name of exportsOf(file)) {
    const word = new RegExp(`\\b${name.replace(/[$]/g, '\\$')}\\b`);
    if (word.test(entry)) continue;
    let used = false;
    for (const [other, text] of texts) {
      if (other !== file && word.test(text)) {
        used = true;
        break;
      }
    }
    if (used) continue;
    const own = texts.get(file).match(new RegExp(word.source, 'g'))?.length ?? 0;
    if (own <= 1) unused.push(`${relative(root, file)}: ${name}`);
    else localOnly.push(`${relative(root, file)}: ${name}`);
  }
}
if (all && localOnly.length) {
  console.log(`exported but used only in their own module (${localOnly.length}):`);
  for (const u of localOnly) console.log(`  ${u}`);
}
for (const u of unused) console.log(u);
if (unused.length) {
  console.error(`${unused.length} export(s) used nowhere (dead code)`);
  process.exit(1);
}
