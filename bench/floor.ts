/**
 * The parser floor: read a plaintext file, parse it and print it again with no cryptography, the
 * way a tool that only parses and prints would. Run as a child process (so its wall time includes
 * Node's start-up, like the CLI's) with stdout on /dev/null:
 *
 *   node dist/bench/floor.js KIND FILE
 *
 * KIND:
 * - yaml-pkg:    the `yaml` package's parse() + stringify() (its document API)
 * - yaml-cst:    what tsops's YAML store takes from the `yaml` package: its CST Parser and Composer
 *                (which the store runs to report malformed input), printed back with CST.stringify
 * - tsops-store: tsops's own store for the file's format, loadPlain() + emitPlain() (no crypto)
 * - json-native: JSON.parse() + JSON.stringify(…, null, '\t')
 * - lines:       split into lines and join again (dotenv)
 */
import { readFileSync, writeSync } from 'node:fs';

function out(text: string | Buffer): void {
  const b = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  let off = 0;
  while (off < b.length) off += writeSync(1, b, off, b.length - off);
}

async function main(): Promise<void> {
  const [kind, file, format] = process.argv.slice(2);
  if (!kind || !file) throw new Error('usage: floor.js KIND FILE [FORMAT]');
  const data = readFileSync(file);
  switch (kind) {
    case 'yaml-pkg': {
      const YAML = await import('yaml');
      out(YAML.stringify(YAML.parse(data.toString('utf8')), { indent: 4 }));
      return;
    }
    case 'yaml-cst': {
      const { Composer, CST, Parser } = await import('yaml');
      const src = data.toString('utf8');
      const tokens = Array.from(new Parser().parse(src));
      const composer = new Composer({ schema: 'failsafe', uniqueKeys: true, strict: true });
      for (const doc of composer.compose(tokens, true, src.length)) if (doc.errors.length) throw doc.errors[0]!;
      out(tokens.map((t) => CST.stringify(t)).join(''));
      return;
    }
    case 'tsops-store': {
      const { storeFor } = (await import('../src/stores/index.js')) as {
        storeFor: (f: string) => Promise<{ loadPlain(d: Buffer): unknown; emitPlain(t: unknown): Buffer }>;
      };
      const store = await storeFor(format ?? 'yaml');
      out(store.emitPlain(store.loadPlain(data)));
      return;
    }
    case 'json-native':
      out(JSON.stringify(JSON.parse(data.toString('utf8')), null, '\t') + '\n');
      return;
    case 'lines':
      out(
        data
          .toString('utf8')
          .split('\n')
          .map((l) => l.split('='))
          .map((kv) => kv.join('='))
          .join('\n'),
      );
      return;
    default:
      throw new Error(`unknown floor ${kind}`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`floor: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
