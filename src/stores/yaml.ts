/**
 * The YAML store: sops's YAML files, read and written as sops 3.x (go-yaml v3) does.
 *
 * Reading uses the `yaml` package's parser (its CST, plus its composer to report malformed input)
 * and gives values sops's types (go-yaml's resolution rules, see yaml/resolve.ts: timestamps are
 * `time` values, as in sops ≥ 3.10). Comments become `Comment` items placed where sops puts them
 * (go-yaml's head/line/foot comment rules, flattened as sops flattens them; a comment on the line
 * of a scalar value is marked `inline`, as sops 3.13 keeps it there). Aliases are expanded into
 * copies, tags dropped after typing the value. Writing goes through yaml/emitter.ts, a port of
 * go-yaml's emitter, so encrypted files come out byte for byte as sops writes them.
 *
 * The parts, in src/stores/yaml/: lines.ts (positions), resolve.ts (go-yaml's resolver and the
 * strings it must quote), scan.ts (block scalars, escapes and base64 as go-yaml's scanner reads
 * them), marks.ts + builder.ts (CST to tree), comments.ts (comment placement), load.ts (bytes to
 * documents), style.ts + nodes.ts + emitter.ts + print.ts (the printer), store.ts (the store).
 */
export { createYamlStore } from './yaml/store.js';
export { parseYaml } from './yaml/load.js';
