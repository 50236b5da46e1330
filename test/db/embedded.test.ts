import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import t from 'tap'
import { withClient } from '../../src/db/bootstrap.ts'
import { EmbeddedPostgresError, startEmbeddedPostgres } from '../../src/db/embedded.ts'
import { freePort } from '../../src/net.ts'

const asRoot = process.getuid?.() === 0

t.test(
  'as root, a data directory the postgres user cannot reach moves to one it owns; no permission changes',
  { skip: asRoot ? false : 'only meaningful as root (PostgreSQL then runs as the postgres user)' },
  async (t) => {
    // mkdtemp makes a 0700 directory: the postgres user cannot enter it.
    const privateDir = mkdtempSync(join(tmpdir(), 'tenantry-private-'))
    t.teardown(() => rmSync(privateDir, { recursive: true, force: true }))
    const project = join(privateDir, 'project')
    mkdirSync(project)
    const requested = join(project, '.data', 'pg')
    const before = [privateDir, project, tmpdir()].map((dir) => statSync(dir).mode)
    const cluster = await startEmbeddedPostgres({ dataDir: requested, port: await freePort() })
    t.teardown(async () => {
      await cluster.stop()
      rmSync(dirname(cluster.dataDir), { recursive: true, force: true })
    })
    t.not(cluster.dataDir, requested, `the cluster moved: ${cluster.dataDir}`)
    t.notOk(cluster.dataDir.startsWith(privateDir), 'out of the closed folder')
    t.not(statSync(cluster.dataDir).uid, 0, 'into a directory the postgres user owns')
    const version = await withClient(cluster.urls('postgres').root, (client) => client.query('select 1 as one'))
    t.equal(version.rows[0].one, 1, 'and it serves')
    const after = [privateDir, project, tmpdir()].map((dir) => statSync(dir).mode)
    t.same(after, before, 'no permission changed, here or above')

    // The next start of the same checkout finds the same cluster (data survives restarts).
    await cluster.stop()
    const again = await startEmbeddedPostgres({ dataDir: requested, port: await freePort() })
    t.equal(again.dataDir, cluster.dataDir, 'a restart uses the same relocated cluster')
    await again.stop()
  },
)

t.test(
  'a cluster whose credentials file is gone is named, with what to do, instead of failing to log in',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tenantry-stale-'))
    chmodSync(dir, 0o755) // as root, the postgres user must reach it
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const dataDir = join(dir, 'pg')
    const cluster = await startEmbeddedPostgres({ dataDir, port: await freePort() })
    await cluster.stop()
    rmSync(join(dir, 'pg.credentials.json'))
    const error = await startEmbeddedPostgres({ dataDir, port: await freePort() }).then(
      () => undefined,
      (caught: unknown) => caught as Error,
    )
    t.type(error, EmbeddedPostgresError)
    t.match(error?.message, `delete ${dataDir} to start with an empty database`)
    t.notOk(existsSync(join(dir, 'pg.credentials.json')), 'no new passwords were written over the old ones')
  },
)
