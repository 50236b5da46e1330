import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import t from 'tap'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { ensureRolesAndDatabase, migrate } from '../../src/db/bootstrap.ts'
import { startEmbeddedPostgres } from '../../src/db/embedded.ts'
import { freePort } from '../../src/net.ts'
import { buildTestApp, call, registerTenant } from '../helpers/app.ts'
import { waitFor } from '../helpers/wait.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/**
 * Backends of this database waiting for a lock (the requests a test holds behind its LOCK TABLE).
 * The statistics snapshot is cleared first: inside the locker's transaction it would stay frozen.
 */
const lockWaiters = async (client: { query: (text: string) => Promise<{ rows: { n: number }[] }> }) => {
  await client.query('select pg_stat_clear_snapshot()')
  const { rows } = await client.query(
    "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
  )
  return rows[0]!.n
}
const isProblem = (res: { headers: Record<string, unknown>; json: () => { status: number } }, status: number) =>
  /^application\/problem\+json/.test(String(res.headers['content-type'])) && res.json().status === status

t.test('an exhausted pool answers others with a 503 problem within the connection timeout, never a hang', async (t) => {
  const CONNECTION_TIMEOUT = 1000
  const STATEMENT_TIMEOUT = 3000
  const { app, factories } = await buildTestApp(t, {
    env: {
      DATABASE_POOL_SIZE: '2',
      // The slow tenant may hold the whole pool: this is about the pool, not one tenant's share
      // of it (test/limits/tenant-fairness.test.ts covers that).
      DATABASE_POOL_PER_TENANT: '2',
      DATABASE_CONNECTION_TIMEOUT: String(CONNECTION_TIMEOUT),
      DATABASE_STATEMENT_TIMEOUT: String(STATEMENT_TIMEOUT),
    },
  })
  const owner = await registerTenant(app)
  const neighbour = await registerTenant(app)
  // Slow requests: a DBA's lock makes item inserts wait, each holding one of the two connections.
  const locker = await factories.root.connect()
  t.teardown(() => locker.release())
  await locker.query('begin')
  await locker.query('lock table app_public.items in access exclusive mode')
  const startedSlow = Date.now()
  const slow = [1, 2].map(() =>
    call(app, owner, 'POST', '/v1/items', { name: 'slow' }).then((res) => ({ res, ms: Date.now() - startedSlow })),
  )
  await waitFor('both slow inserts to wait on the lock', async () => (await lockWaiters(locker)) === 2)
  const startedOther = Date.now()
  const others = await Promise.all([1, 2, 3].map(() => call(app, neighbour, 'GET', '/v1/tenant')))
  const waited = Date.now() - startedOther
  for (const res of others) t.ok(isProblem(res, 503), `a request without a connection: 503 problem (${res.statusCode})`)
  t.ok(waited < CONNECTION_TIMEOUT + 1500, `answered after ${waited} ms (connection timeout ${CONNECTION_TIMEOUT} ms)`)
  t.comment(`pool of 2 held by slow requests: 3 others got 503 problems after ${waited} ms`)

  // The statement timeout bounds the slow requests' database time too.
  const slowResults = await Promise.all(slow)
  for (const { res, ms } of slowResults) {
    t.ok(isProblem(res, 503), `a request stuck behind a lock: 503 problem after ${ms} ms`)
    t.ok(ms >= STATEMENT_TIMEOUT - 100 && ms < STATEMENT_TIMEOUT + 2000, `bounded by the statement timeout (${ms} ms)`)
  }
  t.comment(
    `statement timeout ${STATEMENT_TIMEOUT} ms: requests behind a lock answered 503 after ${slowResults.map((r) => r.ms).join(', ')} ms`,
  )
  await locker.query('rollback')
  const after = await call(app, owner, 'POST', '/v1/items', { name: 'after' })
  t.equal(after.statusCode, 201, 'with the lock gone, the same pool serves again')
  const { rows } = await factories.root.query(`select count(*)::int as n from app_public.items where name = 'slow'`)
  t.equal(rows[0].n, 0, 'the timed-out inserts left nothing behind')
})

t.test(
  'PostgreSQL restarted mid-run: 503 problems during the outage, recovery without a restart, /ready tracks it',
  async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tenantry-restart-pg-'))
    t.teardown(() => {
      rmSync(dataDir, { recursive: true, force: true })
      rmSync(`${dataDir}.credentials.json`, { force: true })
    })
    const port = await freePort()
    let cluster = await startEmbeddedPostgres({ dataDir, port })
    t.teardown(() => cluster.stop().catch(() => {}))
    const urls = cluster.urls('tenantry')
    await ensureRolesAndDatabase(urls)
    await migrate(urls.owner, urls.root)
    const config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      BCRYPT_COST: '10',
      DATABASE_URL: urls.app,
      DATABASE_CONNECTION_TIMEOUT: '1000',
      PASSWORD_HASH_THREADS: '1',
    })
    const app = await buildApp({ config, logger: false })
    t.teardown(() => app.close())
    const register = await app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      payload: {
        email: 'ann@example.com',
        password: 'correct horse',
        name: 'Ann',
        tenant: { name: 'Acme', slug: 'acme' },
      },
    })
    t.equal(register.statusCode, 201)
    const session = register.json()
    t.equal((await app.inject('/ready')).statusCode, 200, '/ready before the outage')

    await cluster.stop()
    const outage = await Promise.all([
      call(app, session, 'GET', '/v1/me'),
      call(app, session, 'GET', '/v1/items'),
      call(app, session, 'POST', '/v1/items', { name: 'during' }),
    ])
    for (const res of outage)
      t.ok(isProblem(res, 503), `during the outage: 503 problem (${res.statusCode} ${res.body.slice(0, 80)})`)
    const readyDown = await app.inject('/ready')
    t.equal(readyDown.statusCode, 503, '/ready is 503 while the database is down')

    const restartedAt = Date.now()
    cluster = await startEmbeddedPostgres({ dataDir, port })
    let recoveredMs = -1
    let duringRecovery = 0
    for (let i = 0; i < 100; i++) {
      const res = await call(app, session, 'GET', '/v1/me')
      if (res.statusCode === 200) {
        recoveredMs = Date.now() - restartedAt
        break
      }
      t.ok(isProblem(res, 503), 'until it recovers, every answer is a 503 problem')
      duringRecovery++
      await sleep(100)
    }
    t.ok(recoveredMs >= 0, `the same process served again ${recoveredMs} ms after PostgreSQL came back`)
    // The LISTEN connection reconnects on its own backoff (≤ 2 s), so /ready may lag the pool.
    let readyMs = -1
    for (let i = 0; i < 100; i++) {
      if ((await app.inject('/ready')).statusCode === 200) {
        readyMs = Date.now() - restartedAt
        break
      }
      await sleep(100)
    }
    t.ok(readyMs >= 0, `/ready is 200 again ${readyMs} ms after PostgreSQL came back`)
    const write = await call(app, session, 'POST', '/v1/items', { name: 'after' })
    t.equal(write.statusCode, 201, 'writes work again')
    t.comment(
      `PostgreSQL restart: ${outage.length} requests during the outage → 503 problems; recovered ${recoveredMs} ms after restart (${duringRecovery} more 503s meanwhile), no process restart`,
    )
  },
)

t.test(
  'an unhandled error in a handler is a logged 500 problem with a request id, and the app keeps serving',
  async (t) => {
    const lines: string[] = []
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk))
        done()
      },
    })
    const { db } = await buildTestApp(t)
    const config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'error',
      DATABASE_URL: db.appUrl,
      PASSWORD_HASH_THREADS: '1',
    })
    const app = await buildApp({ config, logger: { level: 'error', stream } })
    t.teardown(() => app.close())
    app.get('/boom', { config: { access: 'public' } }, async () => {
      throw new TypeError('secret internals: select * from app_private.user_secrets')
    })
    const res = await app.inject('/boom')
    t.equal(res.statusCode, 500)
    t.ok(isProblem(res, 500), '500 problem')
    t.equal(res.json().type, '/problems/internal')
    t.notMatch(res.body, /secret internals|select|TypeError|at /, 'nothing of the error reaches the client')
    const requestId = res.headers['x-request-id']
    t.ok(requestId, 'the response carries a request id')
    const logged = lines
      .map((line) => JSON.parse(line))
      .find((entry) => entry.reqId === requestId && entry.level === 50)
    t.ok(logged, 'the error is logged with that request id')
    t.match(logged?.err?.message, /secret internals/, 'the log has the full error')
    t.equal((await app.inject('/health')).statusCode, 200, 'the app keeps serving')
  },
)

t.test('while closing, running requests finish and new ones get 503 problems', async (t) => {
  const { app, factories } = await buildTestApp(t)
  const owner = await registerTenant(app)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const locker = await factories.root.connect()
  t.teardown(() => locker.release())
  await locker.query('begin')
  await locker.query('lock table app_public.items in access exclusive mode')
  // One keep-alive connection: a slow request, then (after close began) a second one on it.
  const socket = connect(port, '127.0.0.1')
  let received = ''
  socket.on('data', (chunk) => (received += chunk))
  const ended = new Promise((resolve) => socket.on('close', resolve))
  const request = (method: string, path: string, body = '') =>
    `${method} ${path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${owner.accessToken}\r\n` +
    `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  let requestsSeen = 0
  app.server.on('request', () => requestsSeen++)
  socket.write(request('POST', '/v1/items', '{"name":"in flight"}'))
  await waitFor('the insert to wait on the lock', async () => (await lockWaiters(locker)) === 1)
  const closed = app.close()
  await waitFor('the server to stop listening', () => !app.server.listening)
  socket.write(request('GET', '/v1/tenant'))
  // Node hands a pipelined request to the app at once but answers it after the one before it.
  await waitFor('the server to receive the request sent during the drain', () => requestsSeen === 2)
  await locker.query('commit')
  await closed
  await ended
  const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]))
  t.same(statuses, [201, 503], 'the request in flight finished 201; the one that arrived during the drain got 503')
  t.match(received, /application\/problem\+json[\s\S]*"status":503/, 'the 503 is a problem')
})
