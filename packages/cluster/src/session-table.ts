import { bareOf } from './jid.js';
import type { SessionEntry, SessionPatch } from './types.js';

/**
 * Session entries indexed by full JID and by bare JID. Stored entries are owned by the table:
 * `set` keeps the object it is given and `patch` changes it in place, so a caller holding an entry
 * can tell whether it was replaced since; `get` hands out a copy, `forBare` the entries themselves.
 */
export class SessionTable {
  private readonly byJid = new Map<string, SessionEntry>();
  private readonly byBare = new Map<string, Map<string, SessionEntry>>();

  get size(): number {
    return this.byJid.size;
  }

  /** The stored entry itself (not a copy). */
  peek(jid: string): SessionEntry | undefined {
    return this.byJid.get(jid);
  }

  get(jid: string): SessionEntry | undefined {
    const entry = this.byJid.get(jid);
    return entry && { ...entry };
  }

  /** Stores the entry and returns the one it replaced. */
  set(entry: SessionEntry): SessionEntry | undefined {
    const previous = this.byJid.get(entry.jid);
    this.byJid.set(entry.jid, entry);
    const bare = bareOf(entry.jid);
    let resources = this.byBare.get(bare);
    if (!resources) {
      resources = new Map();
      this.byBare.set(bare, resources);
    }
    resources.set(entry.jid, entry);
    return previous;
  }

  patch(jid: string, patch: SessionPatch): SessionEntry | undefined {
    const entry = this.byJid.get(jid);
    if (!entry) return undefined;
    if (patch.priority !== undefined) entry.priority = patch.priority;
    if (patch.available !== undefined) entry.available = patch.available;
    if (patch.interested !== undefined) entry.interested = patch.interested;
    if (patch.presence !== undefined) entry.presence = patch.presence;
    return entry;
  }

  delete(jid: string): SessionEntry | undefined {
    const entry = this.byJid.get(jid);
    if (!entry) return undefined;
    this.byJid.delete(jid);
    const bare = bareOf(jid);
    const resources = this.byBare.get(bare);
    resources?.delete(jid);
    if (resources?.size === 0) this.byBare.delete(bare);
    return entry;
  }

  clear(): void {
    this.byJid.clear();
    this.byBare.clear();
  }

  /**
   * The stored entries themselves: this runs for every routed message, so no copies. Callers
   * treat directory entries as read-only (the Redis backend hands out fresh objects anyway).
   */
  forBare(bare: string): SessionEntry[] {
    const resources = this.byBare.get(bare);
    return resources ? Array.from(resources.values()) : [];
  }

  /** Stored entries themselves, in insertion order. */
  entries(): SessionEntry[] {
    return Array.from(this.byJid.values());
  }
}
