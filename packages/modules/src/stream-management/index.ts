export { advance, COUNTER_MODULUS, distance, increment, parseCounter } from './counter.js';
export {
  ACK_REQUEST_THRESHOLD,
  HandledCountTooHigh,
  NS_SM,
  streamManagementModule,
  streamResumed,
} from './module.js';
export { type AckResult, UnackedQueue } from './queue.js';
export { delayedCopy, fateOf, type Unacked } from './unacked.js';
