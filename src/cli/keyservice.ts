/**
 * `tsops keyservice [--network tcp|unix] [--address ADDR] [--prompt] [--verbose]`: serve sops's key
 * service (src/keyservice/server.ts) with this machine's keys until SIGINT or SIGTERM, as
 * `sops keyservice`. Defaults as sops: tcp on 127.0.0.1:5000. With --prompt each request waits for
 * `y` (serve it) or `n` on standard input (sops's prompt; here an empty line or the end of input
 * refuses too).
 */
import { createInterface } from 'node:readline';
import { Option, type Command } from 'commander';
import { ExitCode, SopsError, messageOf } from '../errors.js';
import { sopsLogLine } from './context.js';
import { subcommandOptions } from './options.js';

interface KeyserviceOptions {
  network: string;
  address: string;
  prompt?: boolean;
  verbose?: boolean;
}

/** Lines of standard input, one per question; null at the end of input. */
function stdinLines(): () => Promise<string | null> {
  const rl = createInterface({ input: process.stdin, terminal: false });
  const lines: string[] = [];
  const waiting: ((l: string | null) => void)[] = [];
  let ended = false;
  rl.on('line', (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else lines.push(l);
  });
  rl.on('close', () => {
    ended = true;
    for (const w of waiting.splice(0)) w(null);
  });
  return () => {
    const l = lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (ended) return Promise.resolve(null);
    return new Promise((resolve) => waiting.push(resolve));
  };
}

export async function keyserviceCommand(o: KeyserviceOptions): Promise<void> {
  const { startKeyService } = await import('../keyservice/server.js');
  const log = (level: 'info' | 'warning', msg: string) => {
    process.stderr.write(sopsLogLine(level, 'KEYSERVICE', msg));
  };
  let confirm: ((q: string) => Promise<boolean>) | undefined;
  if (o.prompt) {
    const next = stdinLines();
    confirm = async (q) => {
      for (;;) {
        process.stdout.write(`\n${q}`);
        const line = await next();
        const a = line?.trim().toLowerCase();
        if (a === 'y') return true;
        if (a === 'n' || !a) return false;
      }
    };
  }
  // the signal handlers first: a signal that comes as soon as "Listening" is printed still stops cleanly
  let signalled: NodeJS.Signals | undefined;
  let wake: (() => void) | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    signalled = sig;
    wake?.();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let service;
  try {
    service = await startKeyService({ network: o.network, address: o.address, confirm, log });
  } catch (e) {
    throw new SopsError(`Error running keyservice: ${messageOf(e)}`, ExitCode.ErrorGeneric, { cause: e });
  }
  await new Promise<void>((resolve) => {
    wake = resolve;
    if (signalled) resolve();
  });
  log('info', `Caught signal ${signalled === 'SIGINT' ? 'interrupt' : 'terminated'}: shutting down.`);
  await service.close();
  // the prompt's reader keeps standard input open: end here
  process.exit(0);
}

export function addKeyserviceCommand(program: Command): Command {
  const cmd = program
    .command('keyservice')
    .description(
      'start a SOPS key service server: other tsops or sops processes (--keyservice URI) wrap and unwrap ' +
        'data keys with the keys of this machine. No TLS, no authentication: listen on 127.0.0.1 or a unix ' +
        'socket and forward it (ssh -L / -R).',
    )
    .addOption(
      new Option('--network <network>', "network to listen on, e.g. 'tcp' or 'unix' (also --net)").default('tcp'),
    )
    .addOption(new Option('--net <network>').hideHelp())
    .addOption(
      new Option(
        '--address <address>',
        "address to listen on, e.g. '127.0.0.1:5000' or '/tmp/sops.sock' (also --addr)",
      ).default('127.0.0.1:5000'),
    )
    .addOption(new Option('--addr <address>').hideHelp())
    .addOption(new Option('--prompt', 'prompt user to confirm every incoming request (y/n on standard input)'))
    .addOption(new Option('--verbose', 'enable verbose logging output'));
  cmd.action((_o: unknown, c: Command) => {
    const o = subcommandOptions<KeyserviceOptions & { net?: string; addr?: string }>(c);
    return keyserviceCommand({ ...o, network: o.net ?? o.network, address: o.addr ?? o.address });
  });
  return cmd;
}
