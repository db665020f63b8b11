import type { StromModule } from '@strom/core';
import { discoModule } from './disco.js';
import { pingModule } from './ping.js';
import { timeModule } from './time.js';

export { discoModule, NS_DISCO_INFO, NS_DISCO_ITEMS } from './disco.js';
export { NS_PING, pingModule } from './ping.js';
export { NS_TIME, timeModule, xmppDateTime } from './time.js';

export interface ModuleOptions {
  /** XEP-0077 account creation by anyone ('open') or only by the administrator ('closed'). */
  registration?: 'open' | 'closed';
}

/** The modules a Strom server loads by default, in load order. */
export function defaultModules(_options: ModuleOptions = {}): StromModule[] {
  return [discoModule, pingModule, timeModule];
}
