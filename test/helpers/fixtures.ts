/**
 * Where the tests find the repository and the real-sops fixtures (copied into fixtures/ with their
 * origin and licence). Compiled tests run from dist/test, so paths are resolved from the repo root.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The repository root (this file runs as dist/test/helpers/fixtures.js). */
export const ROOT = join(import.meta.dirname, '..', '..', '..');

/** fixtures/sops-3.13.2: files encrypted by the real sops 3.13, their keys and expected output. */
export const FIXTURES = join(ROOT, 'fixtures', 'sops-3.13.2');

/** The bytes of one fixture file. */
export const fixture = (name: string): Buffer => readFileSync(join(FIXTURES, name));

/** The text of every YAML file among the fixtures (all folders), in directory order. */
export function fixtureYamlTexts(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (/\.ya?ml$/.test(e.name)) out.push(readFileSync(join(dir, e.name), 'utf8'));
    }
  };
  walk(FIXTURES);
  return out;
}
