/**
 * Runs the loopback Vault KV server (./servers/vault-kv.ts) for sops's functional suite, whose two
 * `publish_json_file_vault*` tests publish to a Vault at 127.0.0.1:8200 with the token `root`
 * (KV v2 at `secret/`, KV v1 at `kv/`), as sops's CI runs a Vault dev server:
 *
 *   node dist/test/vault-kv-server.js [--port 8200] [--token root]
 *
 * Prints `vault-kv listening on URL` once it accepts connections; stops on SIGTERM / SIGINT.
 */
import { startVaultKvServer } from './servers/vault-kv.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const server = await startVaultKvServer({
  port: Number(arg('--port', '8200')),
  token: arg('--token', 'root'),
  mounts: { secret: 2, kv: 1 },
});
process.stdout.write(`vault-kv listening on ${server.url}\n`);
const stop = () => {
  void server.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
