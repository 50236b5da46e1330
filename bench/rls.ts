import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { beginRequest, executeArguments, LIST_ROWS, listQuery, ownerListQuery } from './queries.ts'
import type { Identity } from './seed.ts'

type Timing = { totalMs: number; p50: number; mean: number }
export type RlsResult = {
  iterations: number
  /** The list statement alone, as the client sees it (round trip included). */
  query: { rls: Timing; owner: Timing; ratio: number }
  /** The executor's own time for the same statement (EXPLAIN ANALYZE EXECUTE, no round trip). */
  executor: { rls: Timing; owner: Timing; ratio: number; samples: number }
  /** Planning (or fetching the cached plan) plus execution, on the server. */
  server: { rls: Timing; owner: Timing; ratio: number }
  /** Whole transaction: BEGIN, begin_request, list, COMMIT on both sides. */
  transaction: { rls: Timing; owner: Timing; ratio: number }
  plans: { rls: string; owner: string }
  /** How PostgreSQL's plan cache treated each prepared statement (custom plans are re-planned every time). */
  planCache: { rls: unknown; owner: unknown }
}

const timing = (samples: number[]): Timing => {
  const sorted = [...samples].sort((a, b) => a - b)
  const totalMs = samples.reduce((sum, value) => sum + value, 0)
  return { totalMs, p50: sorted[Math.floor(sorted.length / 2)] ?? NaN, mean: totalMs / samples.length }
}

type PlanNode = { 'Node Type': string; 'Index Name'?: string; Plans?: PlanNode[] }
const describePlan = (node: PlanNode): string => {
  const self = node['Index Name'] ? `${node['Node Type']} using ${node['Index Name']}` : node['Node Type']
  const children = (node.Plans ?? []).map(describePlan)
  return children.length ? `${self} (${children.join(', ')})` : self
}

/**
 * The RLS tax on the hottest query: the same statement as tenantry_app under RLS (context set by
 * begin_request) vs as tenantry_owner (BYPASSRLS) with an explicit `tenant_id = $2`, random
 * tenants, sequential, in interleaved batches whose order alternates so drift (autovacuum,
 * cache warmth, a noisy neighbour) hits both sides alike. Each side runs the same transaction,
 * BEGIN, begin_request, the list, COMMIT, so the two differ by the policies alone.
 *
 * Both sides run on ONE backend, switching with SET ROLE from a superuser session: two separate
 * connections differ by up to ±50 µs per round trip on a 2-vCPU VM depending only on which core
 * each backend happens to be scheduled on, which is as large as the effect being measured.
 * Row security follows the current role, so `set role tenantry_app` is subject to exactly the
 * policies a tenantry_app login is.
 */
export async function rlsOverhead(options: {
  rootUrl: string
  identities: Identity[]
  iterations: number
  explainIterations: number
}): Promise<RlsResult> {
  const client = new pg.Client({ connectionString: options.rootUrl })
  client.on('error', () => {}) // the cluster stopping under it (Ctrl-C): the query in flight fails anyway
  await client.connect()
  const random = () => options.identities[Math.floor(Math.random() * options.identities.length)]!
  const expectedRows = LIST_ROWS
  const samples = {
    rlsQuery: [] as number[],
    ownerQuery: [] as number[],
    rlsTx: [] as number[],
    ownerTx: [] as number[],
  }
  try {
    const asApp = async (record: boolean) => {
      const t0 = performance.now()
      await client.query('begin')
      await client.query(beginRequest(random()))
      const t1 = performance.now()
      const { rowCount } = await client.query(listQuery)
      const t2 = performance.now()
      await client.query('commit')
      const t3 = performance.now()
      if (rowCount !== expectedRows) throw new Error(`RLS list returned ${rowCount} rows`)
      if (record) {
        samples.rlsQuery.push(t2 - t1)
        samples.rlsTx.push(t3 - t0)
      }
    }
    const asOwner = async (record: boolean) => {
      const identity = random()
      const t0 = performance.now()
      await client.query('begin')
      // The same begin_request as the RLS side, its context unused: the owner's query names the
      // tenant itself. Without it the owner's statement ran straight after BEGIN while the RLS
      // one ran after a function call, and that alone cost the RLS side 50-100 µs a statement
      // on this machine (the same statement measured both ways in one transaction).
      await client.query(beginRequest(identity))
      const t1 = performance.now()
      const { rowCount } = await client.query(ownerListQuery(identity.tenantId))
      const t2 = performance.now()
      await client.query('commit')
      const t3 = performance.now()
      if (rowCount !== expectedRows) throw new Error(`owner list returned ${rowCount} rows`)
      if (record) {
        samples.ownerQuery.push(t2 - t1)
        samples.ownerTx.push(t3 - t0)
      }
    }
    const batchOf = async (role: 'tenantry_app' | 'tenantry_owner', size: number, record: boolean) => {
      await client.query(`set role ${role}`)
      for (let i = 0; i < size; i++) await (role === 'tenantry_app' ? asApp : asOwner)(record)
    }

    // Warm-up: both statements prepared and past PostgreSQL's five custom plans.
    await batchOf('tenantry_app', 200, false)
    await batchOf('tenantry_owner', 200, false)
    const batch = 100
    for (let done = 0; done < options.iterations; done += batch) {
      const order =
        (done / batch) % 2 === 0
          ? (['tenantry_app', 'tenantry_owner'] as const)
          : (['tenantry_owner', 'tenantry_app'] as const)
      for (const role of order) await batchOf(role, batch, true)
    }
    const planCache = async (name: string) =>
      (await client.query('select generic_plans, custom_plans from pg_prepared_statements where name = $1', [name]))
        .rows[0]
    const cache = { rls: await planCache(listQuery.name), owner: await planCache(ownerListQuery('').name) }

    // Executor time, from the server: the same statements through SQL-level PREPARE.
    await client.query('set role tenantry_app')
    await client.query(`prepare bench_rls as ${listQuery.text}`)
    await client.query('set role tenantry_owner')
    await client.query(`prepare bench_owner as ${ownerListQuery('').text}`)
    const explain = 'explain (analyze, timing off, summary on, format json)'
    const execution = { rls: [] as number[], owner: [] as number[] }
    const planAndExecution = { rls: [] as number[], owner: [] as number[] }
    const plans = { rls: '', owner: '' }
    for (let i = 0; i < options.explainIterations; i++) {
      await client.query('set role tenantry_app')
      await client.query('begin')
      await client.query(beginRequest(random()))
      const a = (await client.query(`${explain} execute bench_rls${executeArguments(listQuery.values)}`)).rows[0][
        'QUERY PLAN'
      ][0]
      await client.query('commit')
      await client.query('set role tenantry_owner')
      const b = (
        await client.query(
          `${explain} execute bench_owner${executeArguments(ownerListQuery(random().tenantId).values)}`,
        )
      ).rows[0]['QUERY PLAN'][0]
      if (!JSON.stringify(a.Plan).includes('InitPlan'))
        throw new Error('the RLS plan shows no policy: not running as tenantry_app?')
      plans.rls = describePlan(a.Plan)
      plans.owner = describePlan(b.Plan)
      if (i >= 50) {
        execution.rls.push(a['Execution Time'])
        execution.owner.push(b['Execution Time'])
        planAndExecution.rls.push(a['Planning Time'] + a['Execution Time'])
        planAndExecution.owner.push(b['Planning Time'] + b['Execution Time'])
      }
    }

    const compare = (a: number[], b: number[]) => {
      const [x, y] = [timing(a), timing(b)]
      return { rls: x, owner: y, ratio: x.totalMs / y.totalMs }
    }
    return {
      iterations: options.iterations,
      query: compare(samples.rlsQuery, samples.ownerQuery),
      executor: { ...compare(execution.rls, execution.owner), samples: execution.rls.length },
      server: compare(planAndExecution.rls, planAndExecution.owner),
      transaction: compare(samples.rlsTx, samples.ownerTx),
      plans,
      planCache: cache,
    }
  } finally {
    await client.end()
  }
}
