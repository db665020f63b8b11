import { AddressList } from './addresses.js';

/**
 * Module settings: each module declares the environment variables it reads, with defaults and
 * bounds, next to its code. The server resolves them once at start and reports every bad value by
 * name, so a new feature adds settings without touching the server's configuration code.
 */
export type Env = Readonly<Record<string, string | undefined>>;

export interface Setting<T> {
  readonly env: string;
  readonly describe: string;
  readonly fallback: T;
  /** The value, or an error message saying what was expected. */
  parse(raw: string): { value: T } | { error: string };
}

export type SettingsSpec = Record<string, Setting<unknown>>;
export type SettingsOf<S extends SettingsSpec> = {
  [K in keyof S]: S[K] extends Setting<infer T> ? T : never;
};

export const setting = {
  int(env: string, fallback: number, min: number, max: number, describe = ''): Setting<number> {
    return {
      env,
      describe,
      fallback,
      parse(raw) {
        const value = Number(raw);
        if (!Number.isInteger(value) || value < min || value > max) {
          return { error: `${env} must be an integer from ${min} to ${max} (got "${raw}")` };
        }
        return { value };
      },
    };
  },
  bool(env: string, fallback: boolean, describe = ''): Setting<boolean> {
    return {
      env,
      describe,
      fallback,
      parse(raw) {
        const lower = raw.toLowerCase();
        if (['1', 'true', 'yes', 'on'].includes(lower)) return { value: true };
        if (['0', 'false', 'no', 'off'].includes(lower)) return { value: false };
        return { error: `${env} must be true or false (got "${raw}")` };
      },
    };
  },
  oneOf<T extends string>(env: string, allowed: readonly T[], fallback: T, describe = ''): Setting<T> {
    return {
      env,
      describe,
      fallback,
      parse(raw) {
        if ((allowed as readonly string[]).includes(raw)) return { value: raw as T };
        return { error: `${env} must be one of ${allowed.join(', ')} (got "${raw}")` };
      },
    };
  },
  string(env: string, fallback: string, describe = ''): Setting<string> {
    return { env, describe, fallback, parse: (raw) => ({ value: raw }) };
  },
  /** Comma-separated IP addresses and CIDR ranges (empty by default). */
  addresses(env: string, describe = ''): Setting<AddressList> {
    return {
      env,
      describe,
      fallback: AddressList.EMPTY,
      parse(raw) {
        const parsed = AddressList.parse(raw);
        if ('error' in parsed) {
          return {
            error: `${env} must list IP addresses or CIDR ranges, separated by commas (${parsed.error})`,
          };
        }
        return { value: parsed.list };
      },
    };
  },
};

/** Resolves settings from the environment; `errors` collects one line per bad value. */
export function resolveSettings<S extends SettingsSpec>(spec: S, env: Env, errors: string[]): SettingsOf<S> {
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(spec)) {
    const raw = env[item.env]?.trim();
    if (raw === undefined || raw === '') {
      result[key] = item.fallback;
      continue;
    }
    const parsed = item.parse(raw);
    if ('error' in parsed) {
      errors.push(parsed.error);
      result[key] = item.fallback;
    } else {
      result[key] = parsed.value;
    }
  }
  return result as SettingsOf<S>;
}
