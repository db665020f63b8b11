export {
  type AccessModel,
  DEFAULT_NODE_CONFIG,
  type NodeConfig,
  NS_PUBSUB,
  NS_PUBSUB_EVENT,
  NS_PUBSUB_OWNER,
} from './config.js';
export { PEP_FEATURES, pepModule } from './module.js';
