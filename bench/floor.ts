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
 * - aes-decrypt:  the crypto floor of a decrypt: FILE has one `AAD ENC[...]` line per value (written by
 *                 bench/run.ts from the file's leaves, under the hex key in $TSOPS_BENCH_AES_KEY); each
 *                 value is decrypted as tsops and sops do it (base64, AES-256-GCM with its AAD) and the
 *                 plaintexts are written out, one a line: N AES-GCM decrypts + read + write, no parsing
 * - aes-encrypt:  the same for encrypt: FILE has one `AAD plaintext` line per value; each is encrypted
 *                 with a fresh 32-byte IV and written as `ENC[...]`
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
    case 'aes-decrypt':
    case 'aes-encrypt': {
      const { createCipheriv, createDecipheriv, randomBytes } = await import('node:crypto');
      const key = Buffer.from(process.env.TSOPS_BENCH_AES_KEY ?? '', 'hex');
      const lines = data.toString('utf8').split('\n');
      const parts: string[] = [];
      if (kind === 'aes-decrypt') {
        const re = /^ENC\[AES256_GCM,data:(.*),iv:(.*),tag:(.*),type:(.*)\]$/;
        for (const line of lines) {
          if (!line) continue;
          const sp = line.indexOf(' ');
          const m = re.exec(line.slice(sp + 1))!;
          const d = createDecipheriv('aes-256-gcm', key, Buffer.from(m[2]!, 'base64'), { authTagLength: 16 });
          d.setAAD(Buffer.from(line.slice(0, sp), 'utf8'));
          d.setAuthTag(Buffer.from(m[3]!, 'base64'));
          parts.push(Buffer.concat([d.update(Buffer.from(m[1]!, 'base64')), d.final()]).toString('utf8'));
        }
      } else {
        const ivs = randomBytes(32 * lines.length);
        lines.forEach((line, i) => {
          if (!line) return;
          const sp = line.indexOf(' ');
          const iv = ivs.subarray(32 * i, 32 * i + 32);
          const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
          c.setAAD(Buffer.from(line.slice(0, sp), 'utf8'));
          const ct = Buffer.concat([c.update(Buffer.from(line.slice(sp + 1), 'utf8')), c.final()]);
          parts.push(
            `ENC[AES256_GCM,data:${ct.toString('base64')},iv:${iv.toString('base64')},tag:${c.getAuthTag().toString('base64')},type:str]`,
          );
        });
      }
      out(parts.join('\n') + '\n');
      return;
    }
    default:
      throw new Error(`unknown floor ${kind}`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`floor: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
