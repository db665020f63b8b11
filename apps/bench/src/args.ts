/** Command-line options of the load tool: one table drives parsing, validation and the help text. */

export type Mechanism = 'auto' | 'SCRAM-SHA-256' | 'SCRAM-SHA-1' | 'PLAIN';
export type Provisioning = 'auto' | 'register' | 'cli' | 'none';

export interface BenchOptions {
  scenario: string;
  ws: string;
  ws2: string | undefined;
  domain: string;
  users: number;
  pairs: number;
  window: number;
  duration: number;
  warmup: number;
  drain: number;
  rate: number | undefined;
  contacts: number;
  rounds: number;
  concurrency: number;
  hold: number;
  pingSample: number;
  pingInterval: number;
  serverPids: number[];
  provision: Provisioning;
  adminSocket: string | undefined;
  userPrefix: string;
  password: string;
  mech: Mechanism;
  bodySize: number;
  to: 'bare' | 'full';
  keyCache: string | undefined;
  timeout: number;
  compareEcho: boolean;
  json: boolean;
  quiet: boolean;
  help: boolean;
}

type Kind = 'int' | 'number' | 'string' | 'flag' | 'pids';

interface OptionSpec {
  key: keyof BenchOptions;
  kind: Kind;
  help: string;
  default?: string;
  choices?: readonly string[];
  min?: number;
}

export const OPTION_SPECS: Record<string, OptionSpec> = {
  ws: {
    key: 'ws',
    kind: 'string',
    default: 'ws://127.0.0.1:5280/xmpp-websocket',
    help: 'RFC 7395 endpoint',
  },
  ws2: { key: 'ws2', kind: 'string', help: 'second node: sessions alternate, pairs split across nodes' },
  domain: { key: 'domain', kind: 'string', default: 'localhost', help: 'XMPP domain of the accounts' },
  users: { key: 'users', kind: 'int', default: '1000', min: 1, help: 'sessions (connect)' },
  pairs: {
    key: 'pairs',
    kind: 'int',
    default: '500',
    min: 1,
    help: 'sender/receiver pairs (messages, echo)',
  },
  window: { key: 'window', kind: 'int', default: '10', min: 1, help: 'messages in flight per pair' },
  duration: { key: 'duration', kind: 'number', default: '20', min: 0.1, help: 'measured seconds' },
  warmup: {
    key: 'warmup',
    kind: 'number',
    default: '3',
    min: 0,
    help: 'seconds of traffic before measuring',
  },
  drain: {
    key: 'drain',
    kind: 'number',
    default: '5',
    min: 0,
    help: 'seconds to wait for messages still in flight',
  },
  rate: {
    key: 'rate',
    kind: 'number',
    min: 1,
    help: 'total messages/s to pace to (default: as fast as the window allows)',
  },
  contacts: { key: 'contacts', kind: 'int', default: '500', min: 1, help: 'online contacts (presence)' },
  rounds: { key: 'rounds', kind: 'int', default: '20', min: 1, help: 'presence broadcasts (presence)' },
  concurrency: { key: 'concurrency', kind: 'int', default: '50', min: 1, help: 'logins in progress at once' },
  hold: { key: 'hold', kind: 'number', default: '10', min: 0, help: 'seconds to hold sessions (connect)' },
  'ping-sample': {
    key: 'pingSample',
    kind: 'int',
    default: '100',
    min: 0,
    help: 'sessions that ping while holding (connect)',
  },
  'ping-interval': {
    key: 'pingInterval',
    kind: 'number',
    default: '1',
    min: 0.01,
    help: 'seconds between pings of one session',
  },
  'server-pid': {
    key: 'serverPids',
    kind: 'pids',
    help: 'server process to sample from /proc (repeatable or comma list)',
  },
  provision: {
    key: 'provision',
    kind: 'string',
    default: 'auto',
    choices: ['auto', 'register', 'cli', 'none'],
    help: "create accounts: XEP-0077 in-band (auto: then Strom's admin socket if refused), admin socket only, or none",
  },
  'admin-socket': {
    key: 'adminSocket',
    kind: 'string',
    help: 'Strom admin socket for --provision cli (default $ADMIN_SOCKET or $DATA_DIR/admin.sock)',
  },
  'user-prefix': { key: 'userPrefix', kind: 'string', default: 'bench', help: 'account name prefix' },
  password: { key: 'password', kind: 'string', default: 'bench-secret', help: 'password of every account' },
  mech: {
    key: 'mech',
    kind: 'string',
    default: 'auto',
    choices: ['auto', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'],
    help: 'SASL mechanism (auto: strongest SCRAM offered, else PLAIN)',
  },
  'body-size': { key: 'bodySize', kind: 'int', default: '64', min: 1, help: 'message body length in bytes' },
  to: {
    key: 'to',
    kind: 'string',
    default: 'bare',
    choices: ['bare', 'full'],
    help: 'address messages to the bare JID (as chat clients start) or the full JID',
  },
  'key-cache': {
    key: 'keyCache',
    kind: 'string',
    help: 'file keeping SCRAM keys between runs ("none" to disable; default in the temp folder)',
  },
  timeout: {
    key: 'timeout',
    kind: 'number',
    default: '30',
    min: 1,
    help: 'seconds before a login step fails',
  },
  'compare-echo': {
    key: 'compareEcho',
    kind: 'flag',
    help: 'messages: also run echo with the same shape and report the fraction',
  },
  json: { key: 'json', kind: 'flag', help: 'print the result as JSON on stdout' },
  quiet: { key: 'quiet', kind: 'flag', help: 'no progress lines on stderr' },
  help: { key: 'help', kind: 'flag', help: 'show this help' },
};

export class UsageError extends Error {}

/** Parses `<scenario> [--option value | --option=value | --flag]...`. */
export function parseArgs(argv: string[]): BenchOptions {
  const values = new Map<string, string[]>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h') {
      values.set('help', ['true']);
      continue;
    }
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const spec = OPTION_SPECS[name];
    if (!spec) throw new UsageError(`unknown option --${name}`);
    let value: string;
    if (spec.kind === 'flag') {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      value = 'true';
    } else if (eq !== -1) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`--${name} needs a value`);
      value = next;
    }
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  if (positional.length > 1) throw new UsageError(`one scenario at a time (got ${positional.join(', ')})`);

  const options: Record<string, unknown> = { scenario: positional[0] ?? '' };
  for (const [name, spec] of Object.entries(OPTION_SPECS)) {
    const given = values.get(name);
    if (spec.kind === 'pids') {
      options[spec.key] = (given ?? []).flatMap((v) => v.split(',')).map((v) => parsePid(name, v));
      continue;
    }
    if (spec.kind !== 'flag' && given && given.length > 1) {
      throw new UsageError(`--${name} given more than once`);
    }
    const raw = given?.[0] ?? spec.default;
    options[spec.key] = convert(name, spec, raw);
  }
  return options as unknown as BenchOptions;
}

function convert(name: string, spec: OptionSpec, raw: string | undefined): unknown {
  switch (spec.kind) {
    case 'flag':
      return raw === 'true';
    case 'string':
      if (raw === undefined) return undefined;
      if (spec.choices && !spec.choices.includes(raw)) {
        throw new UsageError(`--${name} must be one of ${spec.choices.join(', ')} (got "${raw}")`);
      }
      if (raw === '') throw new UsageError(`--${name} must not be empty`);
      return raw;
    case 'int':
    case 'number': {
      if (raw === undefined) return undefined;
      const value = Number(raw);
      const ok =
        raw.trim() !== '' && Number.isFinite(value) && (spec.kind === 'number' || Number.isInteger(value));
      if (!ok)
        throw new UsageError(
          `--${name} must be ${spec.kind === 'int' ? 'an integer' : 'a number'} (got "${raw}")`,
        );
      if (spec.min !== undefined && value < spec.min) {
        throw new UsageError(`--${name} must be at least ${spec.min} (got ${raw})`);
      }
      return value;
    }
    default:
      return raw;
  }
}

function parsePid(name: string, raw: string): number {
  const pid = Number(raw.trim());
  if (!Number.isInteger(pid) || pid <= 0)
    throw new UsageError(`--${name} must be a process id (got "${raw}")`);
  return pid;
}

/** Checks URLs once so a typo fails before accounts are created. */
export function validateOptions(options: BenchOptions): void {
  for (const [name, url] of [
    ['ws', options.ws],
    ['ws2', options.ws2],
  ] as const) {
    if (url === undefined) continue;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`--${name} must be a ws:// or wss:// URL (got "${url}")`);
    }
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
      throw new UsageError(`--${name} must be a ws:// or wss:// URL (got "${url}")`);
    }
  }
  if (!/^[a-z0-9._-]+$/i.test(options.userPrefix)) {
    throw new UsageError('--user-prefix may use letters, digits, ".", "_" and "-" only');
  }
}

export function helpText(scenarios: ReadonlyArray<{ name: string; summary: string }>): string {
  const lines = [
    'Usage: npm run bench -- <scenario> [options]',
    '',
    'Scenarios:',
    ...scenarios.map((s) => `  ${s.name.padEnd(10)} ${s.summary}`),
    '',
    'Options:',
  ];
  for (const [name, spec] of Object.entries(OPTION_SPECS)) {
    const arg = spec.kind === 'flag' ? `--${name}` : `--${name} ${spec.kind === 'pids' ? 'PID' : 'X'}`;
    const fallback = spec.default !== undefined ? ` (default ${spec.default})` : '';
    lines.push(`  ${arg.padEnd(24)} ${spec.help}${fallback}`);
  }
  return lines.join('\n');
}
