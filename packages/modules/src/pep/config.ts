import { StanzaError } from '@strom/core';
import { type Element, xml } from '@strom/xml';

export const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
export const NS_PUBSUB_OWNER = 'http://jabber.org/protocol/pubsub#owner';
export const NS_PUBSUB_EVENT = 'http://jabber.org/protocol/pubsub#event';
export const NS_PUBSUB_ERRORS = 'http://jabber.org/protocol/pubsub#errors';
export const NS_DATA = 'jabber:x:data';
export const FORM_NODE_CONFIG = 'http://jabber.org/protocol/pubsub#node_config';
export const FORM_PUBLISH_OPTIONS = 'http://jabber.org/protocol/pubsub#publish-options';

export type AccessModel = 'open' | 'presence' | 'roster' | 'whitelist';
export type SendLastPublishedItem = 'never' | 'on_sub' | 'on_sub_and_presence';

/** The configuration of one node (XEP-0060 §16.4.4 fields Strom supports). */
export interface NodeConfig {
  accessModel: AccessModel;
  /** Items kept; 'max' means as many as the server allows (the `PEP_MAX_ITEMS` setting). */
  maxItems: number | 'max';
  persistItems: boolean;
  sendLastPublishedItem: SendLastPublishedItem;
  notifyRetract: boolean;
  notifyDelete: boolean;
  /** For the `roster` access model: contacts in these roster groups may read. */
  rosterGroupsAllowed: string[];
  title: string;
}

/** XEP-0163 §4: PEP nodes default to presence access, one persistent item, last item on presence. */
export const DEFAULT_NODE_CONFIG: NodeConfig = Object.freeze({
  accessModel: 'presence',
  maxItems: 1,
  persistItems: true,
  sendLastPublishedItem: 'on_sub_and_presence',
  notifyRetract: true,
  notifyDelete: true,
  rosterGroupsAllowed: [],
  title: '',
}) as NodeConfig;

const ACCESS_MODELS: readonly AccessModel[] = ['open', 'presence', 'roster', 'whitelist'];
const SEND_LAST: readonly SendLastPublishedItem[] = ['never', 'on_sub', 'on_sub_and_presence'];

/** A field of the config form, how to read it into a config, and how to write it back. */
interface FieldSpec {
  type: 'list-single' | 'text-single' | 'boolean' | 'list-multi';
  label: string;
  options?: readonly string[];
  read(values: string[], config: NodeConfig): void;
  write(config: NodeConfig): string[];
}

function bool(values: string[], field: string): boolean {
  const value = values[0]?.trim().toLowerCase();
  if (value === '1' || value === 'true') return true;
  if (value === '0' || value === 'false') return false;
  throw new StanzaError('bad-request', `${field} must be a boolean`);
}

/** Fields that are accepted with their only supported value (clients send them as preconditions). */
const FIXED: Record<string, string> = {
  'pubsub#deliver_payloads': '1',
  'pubsub#deliver_notifications': '1',
  'pubsub#publish_model': 'publishers',
  'pubsub#notification_type': 'headline',
  'pubsub#presence_based_delivery': '0',
  'pubsub#purge_offline': '0',
};

const FIELDS: Record<string, FieldSpec> = {
  'pubsub#title': {
    type: 'text-single',
    label: 'A short name for the node',
    read: (values, config) => {
      config.title = values[0] ?? '';
    },
    write: (config) => [config.title],
  },
  'pubsub#access_model': {
    type: 'list-single',
    label: 'Who may subscribe and retrieve items',
    options: ACCESS_MODELS,
    read: (values, config) => {
      const value = values[0] as AccessModel;
      if (!ACCESS_MODELS.includes(value)) throw new StanzaError('not-acceptable', 'Unsupported access model');
      config.accessModel = value;
    },
    write: (config) => [config.accessModel],
  },
  'pubsub#roster_groups_allowed': {
    type: 'list-multi',
    label: 'Roster groups allowed to subscribe',
    read: (values, config) => {
      config.rosterGroupsAllowed = [...new Set(values)];
    },
    write: (config) => config.rosterGroupsAllowed,
  },
  'pubsub#max_items': {
    type: 'text-single',
    label: 'Max # of items to persist. `max` for no specific limit other than a server imposed maximum.',
    read: (values, config) => {
      const raw = values[0]?.trim() ?? '';
      if (raw === 'max') {
        config.maxItems = 'max';
        return;
      }
      const value = Number(raw);
      if (!Number.isInteger(value) || value < 1) {
        throw new StanzaError('not-acceptable', 'pubsub#max_items must be a positive integer or "max"');
      }
      config.maxItems = value;
    },
    write: (config) => [String(config.maxItems)],
  },
  'pubsub#persist_items': {
    type: 'boolean',
    label: 'Persist items to storage',
    read: (values, config) => {
      config.persistItems = bool(values, 'pubsub#persist_items');
    },
    write: (config) => [config.persistItems ? '1' : '0'],
  },
  'pubsub#send_last_published_item': {
    type: 'list-single',
    label: 'When to send the last published item',
    options: SEND_LAST,
    read: (values, config) => {
      const value = values[0] as SendLastPublishedItem;
      if (!SEND_LAST.includes(value))
        throw new StanzaError('not-acceptable', 'Unsupported send_last_published_item');
      config.sendLastPublishedItem = value;
    },
    write: (config) => [config.sendLastPublishedItem],
  },
  'pubsub#notify_retract': {
    type: 'boolean',
    label: 'Notify subscribers when items are removed from the node',
    read: (values, config) => {
      config.notifyRetract = bool(values, 'pubsub#notify_retract');
    },
    write: (config) => [config.notifyRetract ? '1' : '0'],
  },
  'pubsub#notify_delete': {
    type: 'boolean',
    label: 'Notify subscribers when the node is deleted',
    read: (values, config) => {
      config.notifyDelete = bool(values, 'pubsub#notify_delete');
    },
    write: (config) => [config.notifyDelete ? '1' : '0'],
  },
};

/** The fields of a submitted data form, by `var`, FORM_TYPE apart. */
export function readForm(x: Element | undefined): {
  formType: string | undefined;
  fields: Map<string, string[]>;
} {
  const fields = new Map<string, string[]>();
  let formType: string | undefined;
  if (x === undefined) return { formType, fields };
  for (const field of x.getChildren('field', NS_DATA)) {
    const name = field.attrs.var;
    if (name === undefined) continue;
    const values = field.getChildren('value', NS_DATA).map((value) => value.text());
    if (name === 'FORM_TYPE') formType = values[0];
    else fields.set(name, values);
  }
  return { formType, fields };
}

/** A configuration with the form's fields applied (unknown fields are refused). */
export function applyConfigForm(base: NodeConfig, fields: Map<string, string[]>): NodeConfig {
  const config: NodeConfig = { ...base, rosterGroupsAllowed: [...base.rosterGroupsAllowed] };
  for (const [name, values] of fields) {
    const spec = FIELDS[name];
    if (spec) spec.read(values, config);
    else if (FIXED[name] !== undefined) {
      if (normalizeFixed(values) !== FIXED[name]) {
        throw new StanzaError('not-acceptable', `${name} can only be ${FIXED[name]} here`);
      }
    } else throw new StanzaError('not-acceptable', `Unsupported node configuration field ${name}`);
  }
  return config;
}

function normalizeFixed(values: string[]): string {
  const value = values[0]?.trim().toLowerCase() ?? '';
  if (value === 'true') return '1';
  if (value === 'false') return '0';
  return value;
}

/**
 * XEP-0060 §7.1.5: each publish-options field is a precondition on the node's configuration of the
 * same name. Returns the name of the first one an existing node does not meet, or undefined.
 */
export function unmetPrecondition(config: NodeConfig, fields: Map<string, string[]>): string | undefined {
  for (const [name, values] of fields) {
    const spec = FIELDS[name];
    if (spec === undefined) {
      if (FIXED[name] !== undefined && normalizeFixed(values) === FIXED[name]) continue;
      return name;
    }
    let wanted: NodeConfig;
    try {
      wanted = applyConfigForm(config, new Map([[name, values]]));
    } catch {
      return name;
    }
    if (JSON.stringify(spec.write(wanted)) !== JSON.stringify(spec.write(config))) return name;
  }
  return undefined;
}

/** The node configuration form (XEP-0060 §8.2) with the node's current values. */
export function configForm(config: NodeConfig, type: 'form' | 'result' = 'form'): Element {
  const form = xml('x', { xmlns: NS_DATA, type });
  form.append(xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, FORM_NODE_CONFIG)));
  for (const [name, spec] of Object.entries(FIELDS)) {
    const field = xml('field', { var: name, type: spec.type, label: spec.label });
    for (const option of spec.options ?? []) field.append(xml('option', {}, xml('value', {}, option)));
    for (const value of spec.write(config)) field.append(xml('value', {}, value));
    form.append(field);
  }
  return form;
}

/** Parses a stored configuration, filling in defaults for anything missing. */
export function storedConfig(raw: unknown): NodeConfig {
  const value = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<NodeConfig>;
  return { ...DEFAULT_NODE_CONFIG, ...value, rosterGroupsAllowed: [...(value.rosterGroupsAllowed ?? [])] };
}

/** The number of items a node keeps, with 'max' as the server's limit. */
export function itemLimit(config: NodeConfig, serverMax: number): number {
  if (!config.persistItems) return 1;
  return config.maxItems === 'max' ? serverMax : Math.min(config.maxItems, serverMax);
}
