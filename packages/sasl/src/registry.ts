import type { CredentialLookup, SaslMechanism } from './mechanism.js';
import { PlainMechanism } from './plain.js';
import { ScramServerMechanism, type ScramServerOptions } from './scram-server.js';

/** Strongest first, the order in which to advertise them. */
export const SCRAM_MECHANISMS = ['SCRAM-SHA-256', 'SCRAM-SHA-1'] as const;

/** Starts an exchange for a mechanism name from `<auth mechanism='…'/>`; undefined if unsupported. */
export function createMechanism(
  name: string,
  lookup: CredentialLookup,
  opts: ScramServerOptions = {},
): SaslMechanism | undefined {
  switch (name) {
    case 'SCRAM-SHA-256':
      return new ScramServerMechanism('SHA-256', lookup, opts);
    case 'SCRAM-SHA-1':
      return new ScramServerMechanism('SHA-1', lookup, opts);
    case 'PLAIN':
      return new PlainMechanism(lookup, opts.decoySecret ? { decoySecret: opts.decoySecret } : {});
    default:
      return undefined;
  }
}
