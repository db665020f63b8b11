export {
  type AdminReply,
  type AdminRequest,
  AdminServer,
  handleAdminRequest,
  sendAdminRequest,
} from './admin.js';
export { type StartOptions, type Strom, startStrom } from './app.js';
export { type Config, ConfigError, loadConfig, loadDotEnv } from './config.js';
export { createLogger } from './logger.js';
