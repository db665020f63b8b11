import { defineEvent } from '@strom/core';

/** An avatar image: its SHA-1 (lowercase hex, as XEP-0084 and XEP-0153 name it), type and data. */
export interface AvatarImage {
  hash: string;
  type: string;
  base64: string;
}

/**
 * XEP-0398: the avatar is one thing however a client set it. The vCard module fires
 * `vcardAvatarChanged` when a client stored a vCard with a different photo (or none); the PEP
 * module fires `pepAvatarChanged` when a client published XEP-0084 metadata for a new image (or
 * disabled it). Each side updates its own form and ignores a change that is already there, so the
 * two never echo each other.
 */
export const vcardAvatarChanged = defineEvent<{ owner: string; avatar: AvatarImage | null }>(
  'avatar/vcard-changed',
);
export const pepAvatarChanged = defineEvent<{ owner: string; avatar: AvatarImage | null }>(
  'avatar/pep-changed',
);
