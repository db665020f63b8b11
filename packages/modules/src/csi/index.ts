export { csiModule, NS_CSI } from './module.js';
export { bareOf, HeldStanzas, holdKey } from './rules.js';
