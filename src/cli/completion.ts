/**
 * `tsops completion bash|zsh|fish`: a shell completion script built from the program's own
 * commands and flags, so it never lists a flag tsops does not take. sops 3.11+ prints bash and zsh
 * scripts; fish is an addition. Load with `source <(tsops completion bash)` (or zsh), or
 * `tsops completion fish | source`.
 */
import type { Command } from 'commander';

interface Entry {
  name: string;
  description: string;
  flags: { long?: string; short?: string; description: string }[];
}

function flagsOf(cmd: Command): Entry['flags'] {
  return cmd.options
    .filter((o) => !o.hidden)
    .map((o) => ({ long: o.long, short: o.short, description: o.description }));
}

function entries(program: Command): { root: Entry; commands: Entry[] } {
  const root: Entry = { name: '', description: program.description(), flags: flagsOf(program) };
  const commands: Entry[] = [];
  for (const c of program.commands) {
    commands.push({ name: c.name(), description: c.description(), flags: flagsOf(c) });
    for (const sub of c.commands)
      commands.push({ name: `${c.name()} ${sub.name()}`, description: sub.description(), flags: flagsOf(sub) });
  }
  commands.push({ name: 'help', description: 'show the help of tsops or of a command', flags: [] });
  return { root, commands };
}

const words = (e: Entry) => e.flags.flatMap((f) => [f.long, f.short].filter((x): x is string => !!x));
const shellWord = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_');
const single = (s: string) => s.replace(/'/g, `'\\''`);
const firstLine = (s: string) => (s.split('\n')[0] ?? '').replace(/[`$"\\]/g, '').slice(0, 80);

function bash(program: Command, name: string): string {
  const { root, commands } = entries(program);
  const top = commands.filter((c) => !c.name.includes(' ')).map((c) => c.name);
  const cases = commands
    .filter((c) => !c.name.includes(' '))
    .map((c) => {
      const subs = commands.filter((s) => s.name.startsWith(`${c.name} `)).map((s) => s.name.split(' ')[1]);
      return `    ${c.name}) words='${single([...subs, ...words(c)].join(' '))}' ;;`;
    })
    .join('\n');
  const fn = `_${shellWord(name)}_complete`;
  return `# bash completion for ${name} (tsops). Load it with: source <(${name} completion bash)
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmd="" i words
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in -*) ;; *) cmd="\${COMP_WORDS[i]}"; break ;; esac
  done
  case "$cmd" in
${cases}
    *) words='${single([...top, ...words(root)].join(' '))}' ;;
  esac
  if [[ -z "$cmd" || "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$words" -- "$cur") )
  else
    COMPREPLY=()
  fi
}
complete -o default -o bashdefault -F ${fn} ${name}
`;
}

function zsh(program: Command, name: string): string {
  const { root, commands } = entries(program);
  const top = commands.filter((c) => !c.name.includes(' '));
  const described = top
    .map((c) => `    '${single(`${c.name}:${firstLine(c.description)}`.replace(/:(?=.*:)/g, '\\:'))}'`)
    .join('\n');
  const cases = top
    .map(
      (c) =>
        `    ${c.name}) flags=(${words(c)
          .map((w) => `'${w}'`)
          .join(' ')}) ;;`,
    )
    .join('\n');
  const fn = `_${shellWord(name)}`;
  return `#compdef ${name}
# zsh completion for ${name} (tsops). Load it with: source <(${name} completion zsh)
${fn}() {
  local -a cmds flags
  cmds=(
${described}
  )
  if (( CURRENT == 2 )) && [[ "\${words[CURRENT]}" != -* ]]; then
    _describe 'command' cmds
    _files
    return
  fi
  case "\${words[2]}" in
${cases}
    *) flags=(${words(root)
      .map((w) => `'${w}'`)
      .join(' ')}) ;;
  esac
  if [[ "\${words[CURRENT]}" == -* ]]; then
    compadd -- $flags
  else
    _files
  fi
}
compdef ${fn} ${name}
`;
}

function fish(program: Command, name: string): string {
  const { root, commands } = entries(program);
  const top = commands.filter((c) => !c.name.includes(' '));
  const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const lines = [
    `# fish completion for ${name} (tsops). Load it with: ${name} completion fish | source`,
    `complete -c ${name} -e`,
  ];
  for (const c of top)
    lines.push(`complete -c ${name} -n __fish_use_subcommand -a ${c.name} -d ${q(firstLine(c.description))}`);
  const flagLine = (cond: string, f: Entry['flags'][number]) => {
    const parts = [`complete -c ${name} -n ${q(cond)}`];
    if (f.long) parts.push(`-l ${f.long.replace(/^--/, '')}`);
    if (f.short) parts.push(`-s ${f.short.replace(/^-/, '')}`);
    parts.push(`-d ${q(firstLine(f.description))}`);
    return parts.join(' ');
  };
  for (const f of root.flags) lines.push(flagLine('__fish_use_subcommand', f));
  for (const c of top) for (const f of c.flags) lines.push(flagLine(`__fish_seen_subcommand_from ${c.name}`, f));
  return `${lines.join('\n')}\n`;
}

/** The script for `shell`, or undefined for a shell tsops has no script for. */
export function completionScript(program: Command, shell: string, name: string): string | undefined {
  if (shell === 'bash') return bash(program, name);
  if (shell === 'zsh') return zsh(program, name);
  if (shell === 'fish') return fish(program, name);
  return undefined;
}
