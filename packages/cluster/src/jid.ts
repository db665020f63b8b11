/** Splits a full JID at its first slash: the bare part never contains one, a resource may. */
export function splitFullJid(jid: string): { bare: string; resource: string } {
  const slash = jid.indexOf('/');
  if (slash <= 0) throw new TypeError('A session entry needs a full JID');
  return { bare: jid.slice(0, slash), resource: jid.slice(slash + 1) };
}

export function bareOf(jid: string): string {
  const slash = jid.indexOf('/');
  return slash === -1 ? jid : jid.slice(0, slash);
}
