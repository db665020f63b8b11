export { NS_PRIVATE, privateRead, privateStorageModule, privateWrite } from './module.js';
