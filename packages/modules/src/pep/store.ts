import type { Database } from '@strom/storage';
import { and, asc, count, desc, eq, inArray, sql, sum, TransactionRollbackError } from 'drizzle-orm';
import { type NodeConfig, storedConfig } from './config.js';
import { pepItems, pepNodes } from './schema.js';

export interface StoredItem {
  id: string;
  payload: string;
}

export interface PepLimits {
  /** Nodes one account may have. */
  maxNodes: number;
  /** Bytes of item payload one account may keep, over all its nodes. */
  maxBytes: number;
  /** Items one account may keep, over all its nodes. */
  maxAccountItems: number;
}

export type PublishOutcome = 'published' | 'too-many-nodes' | 'over-quota';

/** Nodes and items of every account's PEP service, in the database. */
export class PepStore {
  constructor(
    private readonly db: Database,
    private readonly limits: PepLimits,
  ) {}

  async node(owner: string, node: string): Promise<NodeConfig | undefined> {
    const [row] = await this.db
      .select({ config: pepNodes.config })
      .from(pepNodes)
      .where(and(eq(pepNodes.owner, owner), eq(pepNodes.node, node)));
    return row === undefined ? undefined : storedConfig(row.config);
  }

  async nodes(owner: string): Promise<Array<{ node: string; config: NodeConfig }>> {
    const rows = await this.db
      .select({ node: pepNodes.node, config: pepNodes.config })
      .from(pepNodes)
      .where(eq(pepNodes.owner, owner))
      .orderBy(asc(pepNodes.node));
    return rows.map((row) => ({ node: row.node, config: storedConfig(row.config) }));
  }

  /** Creates a node; false when it exists already or the account has too many. */
  async create(
    owner: string,
    node: string,
    config: NodeConfig,
  ): Promise<'created' | 'exists' | 'too-many-nodes'> {
    return this.db
      .transaction(async (tx) => {
        const [existing] = await tx
          .select({ total: count() })
          .from(pepNodes)
          .where(eq(pepNodes.owner, owner));
        const inserted = await tx
          .insert(pepNodes)
          .values({ owner, node, config })
          .onConflictDoNothing()
          .returning({ node: pepNodes.node });
        if (inserted.length === 0) return 'exists';
        if ((existing?.total ?? 0) >= this.limits.maxNodes) {
          tx.rollback();
        }
        return 'created';
      })
      .catch((err: unknown) => {
        if (isRollback(err)) return 'too-many-nodes' as const;
        throw err;
      });
  }

  async configure(owner: string, node: string, config: NodeConfig): Promise<boolean> {
    const rows = await this.db
      .update(pepNodes)
      .set({ config })
      .where(and(eq(pepNodes.owner, owner), eq(pepNodes.node, node)))
      .returning({ node: pepNodes.node });
    return rows.length > 0;
  }

  async delete(owner: string, node: string): Promise<boolean> {
    const rows = await this.db
      .delete(pepNodes)
      .where(and(eq(pepNodes.owner, owner), eq(pepNodes.node, node)))
      .returning({ node: pepNodes.node });
    return rows.length > 0;
  }

  async purge(owner: string, node: string): Promise<void> {
    await this.db.delete(pepItems).where(and(eq(pepItems.owner, owner), eq(pepItems.node, node)));
  }

  /**
   * Stores an item (replacing one with the same id, which then counts as the newest) and drops the
   * oldest beyond `keep`. Refused when the account's payload bytes would exceed its quota.
   */
  async publish(owner: string, node: string, item: StoredItem, keep: number): Promise<PublishOutcome> {
    return this.db
      .transaction(async (tx) => {
        const mine = and(eq(pepItems.owner, owner), eq(pepItems.node, node));
        await tx.delete(pepItems).where(and(mine, eq(pepItems.itemId, item.id)));
        await tx.insert(pepItems).values({ owner, node, itemId: item.id, payload: item.payload });
        const stale = await tx
          .select({ itemId: pepItems.itemId })
          .from(pepItems)
          .where(mine)
          .orderBy(desc(pepItems.seq))
          .offset(keep);
        if (stale.length > 0) {
          await tx.delete(pepItems).where(
            and(
              mine,
              inArray(
                pepItems.itemId,
                stale.map((row) => row.itemId),
              ),
            ),
          );
        }
        // Measured after the oldest items made room: replacing an item never counts twice.
        const [used] = await tx
          .select({ bytes: sum(sql<number>`octet_length(${pepItems.payload})`), items: count() })
          .from(pepItems)
          .where(eq(pepItems.owner, owner));
        if (
          Number(used?.bytes ?? 0) > this.limits.maxBytes ||
          (used?.items ?? 0) > this.limits.maxAccountItems
        ) {
          tx.rollback();
        }
        return 'published' as const;
      })
      .catch((err: unknown) => {
        if (isRollback(err)) return 'over-quota' as const;
        throw err;
      });
  }

  async retract(owner: string, node: string, id: string): Promise<boolean> {
    const rows = await this.db
      .delete(pepItems)
      .where(and(eq(pepItems.owner, owner), eq(pepItems.node, node), eq(pepItems.itemId, id)))
      .returning({ id: pepItems.itemId });
    return rows.length > 0;
  }

  /** Items, oldest first; the newest `max` when given, or those with the given ids. */
  async items(
    owner: string,
    node: string,
    options: { max?: number; ids?: string[] } = {},
  ): Promise<StoredItem[]> {
    const where = and(
      eq(pepItems.owner, owner),
      eq(pepItems.node, node),
      options.ids !== undefined ? inArray(pepItems.itemId, options.ids) : undefined,
    );
    const query = this.db
      .select({ id: pepItems.itemId, payload: pepItems.payload })
      .from(pepItems)
      .where(where)
      .orderBy(desc(pepItems.seq));
    const rows = options.max !== undefined ? await query.limit(options.max) : await query;
    return rows.reverse();
  }

  async lastItem(owner: string, node: string): Promise<StoredItem | undefined> {
    return (await this.items(owner, node, { max: 1 }))[0];
  }
}

function isRollback(err: unknown): boolean {
  return err instanceof TransactionRollbackError;
}
