export {
  type Attrs,
  Element,
  escapeAttr,
  escapeText,
  type Node,
  serialize,
  XML_NAMESPACE,
  xml,
} from './element.js';
export { XmlStreamError, type XmlStreamErrorCondition } from './errors.js';
export { parseElement, parseFrame } from './frame-parser.js';
export { DEFAULT_LIMITS, TRUSTED_LIMITS, type XmlLimits } from './limits.js';
export { STREAM_NAMESPACE, StreamParser, type StreamParserOptions } from './stream-parser.js';
