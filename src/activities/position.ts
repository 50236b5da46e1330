/**
 * The commit-order position of an activity: (tx, seq), the writing transaction's xid8 (as text)
 * and a sequence across all tenants (migration 000005, activities.tx; seq since 000009).
 * Internal: both count every tenant's writes, so a client only ever sees and hands back its
 * tenant's activity ids. Positions are compared and built here; in SQL they are read and
 * bounded only through the fragments of activities/queries.ts (the layering rule keeps SQL in
 * queries.ts files).
 *
 * A position is readable once its transaction is below the snapshot horizon (the xmin of the
 * current snapshot): every older transaction has ended, so no row can later commit before it
 * and a reader that continues from the last one it got never skips one.
 */
export type Position = { tx: string; seq: number }

/** Before every activity. */
export const START: Position = { tx: '0', seq: 0 }

export const comparePositions = (a: Position, b: Position): number => {
  const ta = BigInt(a.tx)
  const tb = BigInt(b.tx)
  return ta < tb ? -1 : ta > tb ? 1 : a.seq - b.seq
}

export const positionOf = (row: Position): Position => ({ tx: row.tx, seq: row.seq })

/** Past every transaction below this horizon (the xid8 as text): where a fresh reader starts live. */
export const positionAtHorizon = (horizon: string): Position => ({
  tx: (BigInt(horizon) - 1n).toString(),
  seq: Number.MAX_SAFE_INTEGER,
})
