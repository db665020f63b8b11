export { carbonsModule } from './module.js';
export {
  type CarbonDirection,
  carbonEligible,
  hasCarbon,
  isCopyFor,
  NS_CARBONS,
  NS_FORWARD,
  wrapCarbon,
} from './rules.js';
