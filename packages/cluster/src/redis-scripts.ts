import type { ClientContext, Result } from 'ioredis';

/**
 * Lua scripts for the directory operations that must be atomic. Entries are JSON whose `n` is the
 * owning node; "owned" below means that field equals the node given.
 */
export const SCRIPTS = {
  /** KEYS: sessions hash, owner's node-sessions set. ARGV: resource, entry, full JID. Returns the previous entry. */
  stromRegister: {
    numberOfKeys: 2,
    lua: `
local previous = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return previous`,
  },

  /** KEYS: sessions hash. ARGV: resource, node, entry. Replaces the entry only if still owned. */
  stromUpdate: {
    numberOfKeys: 1,
    lua: `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and cjson.decode(current).n == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0`,
  },

  /** KEYS: sessions hash, node's node-sessions set. ARGV: resource, node, full JID. Removes the entry only if still owned. */
  stromUnregister: {
    numberOfKeys: 2,
    lua: `
redis.call('SREM', KEYS[2], ARGV[3])
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and cjson.decode(current).n == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0`,
  },

  /**
   * KEYS: sessions hash, node's node-sessions set. ARGV: resource, node, entry, full JID.
   * Writes back an entry of this node after an outage, unless another node took that full JID
   * meanwhile: then returns that node's entry and writes nothing.
   */
  stromRestore: {
    numberOfKeys: 2,
    lua: `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and cjson.decode(current).n ~= ARGV[2] then
  return current
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
return false`,
  },

  /** KEYS: alive key, nodes set. ARGV: node, ttl ms. Returns 1 if the liveness key had not expired. */
  stromHeartbeat: {
    numberOfKeys: 2,
    lua: `
local existed = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return existed`,
  },

  /**
   * KEYS: dead node's alive key, its node-sessions set, nodes set.
   * ARGV: node, sessions key prefix, chunk size, '1' to skip the liveness checks (own restart).
   * Removes up to a chunk of the node's entries that still point at it. Returns
   * {state, jid1, entry1, ...} where state is 'more' or 'done' (node forgotten), or just
   * {'alive'} / {'gone'} when the node came back or another survivor already cleaned up.
   */
  stromCleanup: {
    numberOfKeys: 3,
    lua: `
if ARGV[4] ~= '1' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return {'alive'} end
  if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then return {'gone'} end
end
local result = {'more'}
local jids = redis.call('SPOP', KEYS[2], tonumber(ARGV[3]))
for _, jid in ipairs(jids) do
  local slash = string.find(jid, '/', 1, true)
  if slash then
    local key = ARGV[2] .. string.sub(jid, 1, slash - 1)
    local resource = string.sub(jid, slash + 1)
    local current = redis.call('HGET', key, resource)
    if current and cjson.decode(current).n == ARGV[1] then
      redis.call('HDEL', key, resource)
      result[#result + 1] = jid
      result[#result + 1] = current
    end
  end
end
if redis.call('SCARD', KEYS[2]) == 0 then
  redis.call('SREM', KEYS[3], ARGV[1])
  result[1] = 'done'
end
return result`,
  },
} as const;

/** The scripts as ioredis exposes them after defineCommand, on a client or a pipeline. */
export interface ScriptCommands<Context extends ClientContext> {
  stromRegister(
    sessions: string,
    nodeSessions: string,
    resource: string,
    entry: string,
    jid: string,
  ): Result<string | null, Context>;
  stromUpdate(sessions: string, resource: string, node: string, entry: string): Result<number, Context>;
  stromUnregister(
    sessions: string,
    nodeSessions: string,
    resource: string,
    node: string,
    jid: string,
  ): Result<number, Context>;
  stromRestore(
    sessions: string,
    nodeSessions: string,
    resource: string,
    node: string,
    entry: string,
    jid: string,
  ): Result<string | null, Context>;
  stromHeartbeat(alive: string, nodes: string, node: string, ttlMs: number): Result<number, Context>;
  stromCleanup(
    alive: string,
    nodeSessions: string,
    nodes: string,
    node: string,
    sessionPrefix: string,
    chunk: number,
    force: '0' | '1',
  ): Result<string[], Context>;
}
