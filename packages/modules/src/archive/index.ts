export { archiveModule, NS_SID } from './module.js';
export { NS_MAM, parseQuery, parseRetention } from './query.js';
