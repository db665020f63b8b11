import { decodeEntry } from './codec.js';
import type { SessionEntry } from './types.js';

/** What Redis answered, interpreted without any I/O, so each rule can be tested on its own. */

export type PipelineResults = Array<[error: Error | null, result: unknown]>;

/** Pipeline results with the first command error thrown. */
export function checked(results: PipelineResults | null): unknown[] {
  if (!results) throw new Error('Pipeline aborted');
  return results.map(([error, result]) => {
    if (error) throw error;
    return result;
  });
}

export type OnMalformed = (error: unknown) => void;

/** A stored entry, or undefined (reported to `onMalformed`) when it cannot be read. */
export function decodeOrSkip(jid: string, value: string, onMalformed: OnMalformed): SessionEntry | undefined {
  try {
    return decodeEntry(jid, value);
  } catch (error) {
    onMalformed(error);
    return undefined;
  }
}

/** The entries of one bare JID's sessions hash (resource → encoded entry). */
export function decodeSessionHash(
  bare: string,
  hash: Record<string, string>,
  onMalformed: OnMalformed,
): SessionEntry[] {
  const sessions: SessionEntry[] = [];
  for (const [resource, value] of Object.entries(hash)) {
    const entry = decodeOrSkip(bare + '/' + resource, value, onMalformed);
    if (entry) sessions.push(entry);
  }
  return sessions;
}

/** One call of the cleanup script: its state and the entries it removed. */
export interface CleanupStep {
  /** 'more' (call again), 'done' (node forgotten), 'alive' or 'gone' (nothing to do here). */
  state: string;
  removed: SessionEntry[];
}

/** Reads the cleanup script's reply: {state, jid1, entry1, jid2, entry2, ...}. */
export function parseCleanupReply(reply: string[], onMalformed: OnMalformed): CleanupStep {
  const [state = '', ...pairs] = reply;
  const removed: SessionEntry[] = [];
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const entry = decodeOrSkip(pairs[i]!, pairs[i + 1]!, onMalformed);
    if (entry) removed.push(entry);
  }
  return { state, removed };
}

/** Splits nodes by the EXISTS replies for their liveness keys (same order). */
export function partitionByLiveness(nodes: string[], exists: unknown[]): { alive: string[]; dead: string[] } {
  const alive: string[] = [];
  const dead: string[] = [];
  nodes.forEach((node, index) => {
    (exists[index] === 0 ? dead : alive).push(node);
  });
  return { alive, dead };
}
