import { type ClientSession, defineEvent } from '@strom/core';

/**
 * A session sent its initial presence (RFC 6121 §4.2) and has been told its contacts' presence:
 * what waited for it (offline messages, pending subscription requests) can be handed over now.
 */
export const initialPresence = defineEvent<{ session: ClientSession }>('presence/initial');
