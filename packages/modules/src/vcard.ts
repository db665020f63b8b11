import { createHash } from 'node:crypto';
import {
  type AnyModule,
  CoreEvents,
  defineModule,
  type IqEvent,
  StanzaError,
  type StanzaEvent,
  setting,
} from '@strom/core';
import { JID } from '@strom/jid';
import { type Element, parseElement, serialize, xml } from '@strom/xml';
import { type AvatarImage, pepAvatarChanged, vcardAvatarChanged } from './avatar-events.js';

export const NS_VCARD = 'vcard-temp';
export const NS_VCARD_UPDATE = 'vcard-temp:x:update';
export const DEFAULT_MAX_VCARD_BYTES = 64 * 1024;

/** The cluster message telling a node to refresh a user's avatar hash and re-announce it. */
const AVATAR_CHANGED = 'avatar-changed';

/** How long a cached avatar hash is trusted without a storage read. */
const HASH_CACHE_TTL_MS = 10 * 60_000;

/**
 * XEP-0054 vcard-temp storage plus XEP-0153/XEP-0398 avatar hashes in presence: the server knows
 * the stored photo, so it puts the hash into its users' available presence and re-announces it
 * when the photo changes.
 */
export const vcardModule: AnyModule = defineModule({
  name: 'vcard',
  settings: {
    maxVCardBytes: setting.int(
      'MAX_VCARD_SIZE',
      DEFAULT_MAX_VCARD_BYTES,
      1024,
      8 * 1024 * 1024,
      'largest vCard accepted, avatar included, in bytes',
    ),
  },
  setup(ctx, settings) {
    const maxBytes = settings.maxVCardBytes;
    const hashes = new AvatarHashCache(HASH_CACHE_TTL_MS);
    ctx.accountFeature(NS_VCARD);

    const currentHash = async (username: string): Promise<string | null> => {
      const cached = hashes.get(username);
      if (cached !== undefined) return cached;
      const readStarted = hashes.readStarted();
      const stored = await ctx.storage.vcards.get(username);
      const hash = stored?.avatarHash ?? null;
      hashes.fill(username, hash, readStarted);
      return hash;
    };

    /** Puts the new hash into the presence of the user's sessions on this node and broadcasts it. */
    const reannounceLocally = async (username: string, hash: string | null): Promise<void> => {
      const sessions = ctx.sessions
        .localOf(username)
        .filter((s) => s.available && s.presence !== undefined && s.bound);
      for (const session of sessions) {
        const presence = session.presence!.clone();
        delete presence.attrs.to;
        setAvatarUpdate(presence, hash);
        try {
          await ctx.submit(session, presence);
        } catch (err) {
          ctx.log.error({ err }, 'avatar presence update failed');
        }
      }
    };

    /** Other nodes holding sessions of the user refresh their cache and re-announce there. */
    const notifyOtherNodes = (jid: JID, hash: string | null): Promise<void> =>
      ctx.broadcast(AVATAR_CHANGED, { username: jid.local, hash }, { nodesOf: [jid.bareString] });

    const getVCard = async (event: IqEvent, ownerIsRequester: boolean): Promise<Element> => {
      const stored = await ctx.storage.vcards.get(event.to.local);
      if (stored) return parseElement(stored.xml);
      // XEP-0054 §3.3: without a vCard, others get the same answer as for a missing account.
      if (!ownerIsRequester) throw new StanzaError('service-unavailable');
      return xml('vCard', { xmlns: NS_VCARD });
    };

    ctx.iq('get', 'self', NS_VCARD, 'vCard', (event) => getVCard(event, true));
    ctx.iq('get', 'bare', NS_VCARD, 'vCard', (event) => getVCard(event, false));

    ctx.iq('set', 'self', NS_VCARD, 'vCard', async (event) => {
      const username = event.from.local;
      const vcard = event.payload.clone();
      const serialized = vcard.toString();
      if (Buffer.byteLength(serialized, 'utf8') > maxBytes) {
        throw new StanzaError(
          'not-acceptable',
          `The vCard is larger than the ${formatBytes(maxBytes)} this server accepts`,
        );
      }
      const hash = avatarHashOf(vcard);
      const previous = await currentHash(username);
      // An empty vCard clears it: nothing is kept that says nothing.
      if (vcard.elements().length === 0) await ctx.storage.vcards.delete(username);
      else await ctx.storage.vcards.set(username, serialized, hash);
      hashes.set(username, hash);
      if (hash !== previous) {
        await reannounceLocally(username, hash);
        await notifyOtherNodes(event.from.bare(), hash);
        await ctx.fire(vcardAvatarChanged, { owner: username, avatar: photoOf(vcard) });
      }
    });

    // XEP-0398 §4: an avatar published over PEP becomes the vCard's photo (and the presence hash).
    ctx.on(pepAvatarChanged, async ({ owner, avatar }) => {
      const previous = await currentHash(owner);
      const hash = avatar?.hash ?? null;
      if (hash === previous) return;
      const stored = await ctx.storage.vcards.get(owner);
      const vcard = stored ? parseElement(stored.xml) : xml('vCard', { xmlns: NS_VCARD });
      vcard.removeChildren('PHOTO', NS_VCARD);
      if (avatar) {
        vcard.append(xml('PHOTO', {}, xml('TYPE', {}, avatar.type), xml('BINVAL', {}, avatar.base64)));
      }
      const serialized = serialize(vcard);
      if (Buffer.byteLength(serialized, 'utf8') > maxBytes) {
        ctx.log.warn({}, 'a PEP avatar too large for the vCard was not copied into it');
        return;
      }
      if (vcard.elements().length === 0) await ctx.storage.vcards.delete(owner);
      else await ctx.storage.vcards.set(owner, serialized, hash);
      hashes.set(owner, hash);
      await reannounceLocally(owner, hash);
      await notifyOtherNodes(JID.of(owner, ctx.domain), hash);
    });
    ctx.iq('set', 'bare', NS_VCARD, 'vCard', () => {
      throw new StanzaError('forbidden', 'Only the owner can change a vCard');
    });

    const decorate = async (event: StanzaEvent): Promise<void> => {
      if (event.type !== 'available') return;
      const username = event.session?.username;
      if (username === undefined || !needsAvatarUpdate(event.stanza)) return;
      setAvatarUpdate(event.stanza, await currentHash(username));
    };
    // XEP-0398 §5: broadcast and directed available presence (e.g. room joins) carry the hash.
    for (const addressing of ['self', 'bare', 'full'] as const) {
      ctx.hook(`pre-presence/${addressing}`, decorate, 50);
    }

    ctx.onBroadcast(AVATAR_CHANGED, async (data) => {
      if (!isAvatarChange(data)) return;
      hashes.set(data.username, data.hash);
      await reannounceLocally(data.username, data.hash);
    });
    ctx.on(CoreEvents.sessionClosed, ({ session }) => {
      const username = session.username;
      if (username === undefined) return;
      // A node only needs the hash while it holds a session of the user.
      if (ctx.sessions.localOf(username).length > 0) return;
      hashes.delete(username);
    });
    ctx.on(CoreEvents.accountDeleted, ({ username }) => {
      hashes.delete(username);
    });
  },
});

/**
 * SHA-1 (lowercase hex) of the decoded `PHOTO/BINVAL` image (XEP-0153 §3.1), or null when the
 * vCard has no embedded photo. Throws `not-acceptable` when BINVAL is not Base64.
 */
export function avatarHashOf(vcard: Element): string | null {
  for (const photo of vcard.getChildren('PHOTO', NS_VCARD)) {
    const binval = photo.getChild('BINVAL', NS_VCARD);
    if (binval === undefined) continue;
    const base64 = binval.text().replace(/\s+/g, '');
    if (base64 === '') continue;
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) {
      throw new StanzaError('not-acceptable', 'PHOTO/BINVAL is not valid Base64');
    }
    return createHash('sha1').update(Buffer.from(base64, 'base64')).digest('hex');
  }
  return null;
}

/**
 * XEP-0398 §5: the server fills in the hash unless the client announced an empty `<photo/>`
 * (no avatar, which only the client may decide to say); an empty `<x/>` is always overwritten, and
 * a differing hash is too, since contacts will fetch the stored vCard anyway.
 */
export function needsAvatarUpdate(presence: Element): boolean {
  const update = presence.getChild('x', NS_VCARD_UPDATE);
  const photo = update?.getChild('photo', NS_VCARD_UPDATE);
  return photo === undefined || photo.text().trim() !== '';
}

/** Replaces any `vcard-temp:x:update` in the presence with one carrying `hash` (empty photo for none). */
export function setAvatarUpdate(presence: Element, hash: string | null): void {
  presence.removeChildren('x', NS_VCARD_UPDATE);
  presence.append(xml('x', { xmlns: NS_VCARD_UPDATE }, xml('photo', {}, hash ?? undefined)));
}

/** The vCard's embedded photo as an avatar image, or null without one. */
function photoOf(vcard: Element): AvatarImage | null {
  const hash = avatarHashOf(vcard);
  if (hash === null) return null;
  for (const photo of vcard.getChildren('PHOTO', NS_VCARD)) {
    const base64 = photo.getChildText('BINVAL')?.replace(/\s+/g, '') ?? '';
    if (base64 === '') continue;
    return { hash, type: photo.getChildText('TYPE')?.trim() || 'image/png', base64 };
  }
  return null;
}

function isAvatarChange(data: unknown): data is { username: string; hash: string | null } {
  if (typeof data !== 'object' || data === null) return false;
  const { username, hash } = data as Record<string, unknown>;
  return typeof username === 'string' && (hash === null || typeof hash === 'string');
}

function formatBytes(bytes: number): string {
  return bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} bytes`;
}

/**
 * Avatar hashes of users with sessions on this node, so decorating presence needs no storage
 * read. Every change bumps a counter; a storage read that overlapped a change is not cached, so a
 * read that raced with a vCard update can never bring the old hash back.
 */
class AvatarHashCache {
  private readonly entries = new Map<string, { hash: string | null; expiresAt: number }>();
  private changes = 0;

  constructor(private readonly ttlMs: number) {}

  get(username: string): string | null | undefined {
    const entry = this.entries.get(username);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(username);
      return undefined;
    }
    return entry.hash;
  }

  /** A token to pass to `fill` for a storage read that starts now. */
  readStarted(): number {
    return this.changes;
  }

  fill(username: string, hash: string | null, readStarted: number): void {
    if (this.changes !== readStarted) return;
    this.entries.set(username, { hash, expiresAt: Date.now() + this.ttlMs });
  }

  set(username: string, hash: string | null): void {
    this.changes++;
    this.entries.set(username, { hash, expiresAt: Date.now() + this.ttlMs });
  }

  delete(username: string): void {
    this.changes++;
    this.entries.delete(username);
  }
}
