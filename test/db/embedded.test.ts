import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { EmbeddedPostgresError, startEmbeddedPostgres } from '../../src/db/embedded.ts'
import { freePort } from '../../src/net.ts'

const asRoot = process.getuid?.() === 0

t.test(
  'as root, the embedded PostgreSQL refuses a private directory instead of opening it up',
  { skip: asRoot ? false : 'only meaningful as root (PostgreSQL then runs as the postgres user)' },
  async (t) => {
    // mkdtemp makes a 0700 directory: the postgres user cannot enter it.
    const privateDir = mkdtempSync(join(tmpdir(), 'tenantry-private-'))
    t.teardown(() => rmSync(privateDir, { recursive: true, force: true }))
    const project = join(privateDir, 'project')
    mkdirSync(project)
    const before = [privateDir, project, tmpdir()].map((dir) => statSync(dir).mode)
    const error = await startEmbeddedPostgres({ dataDir: join(project, '.data', 'pg'), port: await freePort() }).then(
      () => undefined,
      (caught: unknown) => caught,
    )
    t.type(error, EmbeddedPostgresError)
    t.match((error as Error).message, new RegExp(`${privateDir} \\(mode 0700\\) is closed to other users`))
    t.match((error as Error).message, /DATABASE_URL/, 'the message says what to do instead')
    const after = [privateDir, project, tmpdir()].map((dir) => statSync(dir).mode)
    t.same(after, before, 'no permission changed, here or above')
  },
)
