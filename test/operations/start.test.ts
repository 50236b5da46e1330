/**
 * `npm start` never strands a newcomer: as root in a folder other users cannot traverse it
 * serves (the cluster moves to a directory the postgres user owns, and boot says where); a taken
 * PORT or EMBEDDED_PG_PORT gets one line naming the variable, exit 1, and nothing left running;
 * the boot log names the API, docs and dashboard addresses; GET / leads to the docs.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { freePort } from '../../src/net.ts'

const SERVER = fileURLToPath(new URL('../../src/server.ts', import.meta.url))
const asRoot = process.getuid?.() === 0

/** src/server.ts as `npm start` runs it, from `cwd`. */
function start(cwd: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [SERVER], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'info', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk) => (stdout += chunk))
  child.stderr!.on('data', (chunk) => (stderr += chunk))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, exited, stdout: () => stdout, stderr: () => stderr }
}

/** Whether something accepts connections on 127.0.0.1:port right now. */
const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const probe = createServer()
    probe.once('error', () => resolve(true))
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => resolve(false)))
  })

async function occupy(t: Test): Promise<number> {
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return (server.address() as { port: number }).port
}

t.test(
  'as root from a 0700 folder, npm start serves: the cluster lives where postgres may reach it, and boot says where',
  { skip: asRoot ? false : 'only meaningful as root (PostgreSQL then runs as the postgres user)' },
  async (t) => {
    // mkdtemp makes a 0700 directory: the postgres user cannot enter it.
    const closed = mkdtempSync(join(tmpdir(), 'tenantry-closed-'))
    const checkout = join(closed, 'checkout')
    mkdirSync(checkout)
    const before = [closed, checkout, tmpdir()].map((dir) => statSync(dir).mode)
    const port = await freePort()
    const started = performance.now()
    const server = start(checkout, { PORT: String(port), EMBEDDED_PG_PORT: String(await freePort()) })
    let relocated = ''
    t.teardown(async () => {
      server.child.kill('SIGTERM')
      await server.exited
      rmSync(closed, { recursive: true, force: true })
      if (relocated) rmSync(join(relocated, '..'), { recursive: true, force: true })
    })
    const base = `http://127.0.0.1:${port}`
    for (let i = 0; ; i++) {
      if (server.child.exitCode !== null) throw new Error(`exited ${server.child.exitCode}: ${server.stderr()}`)
      if (
        await fetch(`${base}/ready`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break
      if (i > 600) throw new Error(`not ready after 60 s: ${server.stdout()}${server.stderr()}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const seconds = (performance.now() - started) / 1000
    t.comment(
      `npm start as root from a 0700 folder: serving after ${seconds.toFixed(1)} s (first start: initdb included)`,
    )

    const lines = server
      .stdout()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
    const cluster = lines.find((line) => typeof line.dataDir === 'string')
    relocated = String(cluster?.dataDir ?? '')
    t.ok(relocated && !relocated.startsWith(closed), `the cluster lives outside the closed folder: ${relocated}`)
    t.match(String(cluster?.msg), `its data in ${relocated}`, 'and boot says where, in words')
    t.ok(existsSync(join(relocated, 'PG_VERSION')), 'the cluster is there')
    t.not(statSync(relocated).uid, 0, 'owned by the postgres user, not root')
    t.same(
      [closed, checkout, tmpdir()].map((dir) => statSync(dir).mode),
      before,
      'no permission changed in the checkout or above it',
    )
    t.ok(existsSync(join(checkout, '.data', 'pg.credentials.json')), 'the credentials stay in the checkout')

    const serving = lines.find((line) => typeof line.dashboard === 'string')
    t.match(
      String(serving?.msg),
      `API: http://localhost:${port} — API docs: http://localhost:${port}/docs — live dashboard: http://localhost:${port}/dashboard`,
      'boot names the API, the docs and the dashboard in plain words',
    )
    t.comment(`boot says: ${cluster?.msg}\nboot says: ${serving?.msg}`)
    const root = await fetch(`${base}/`, { redirect: 'manual' })
    t.equal(root.status, 302, 'GET / redirects')
    t.equal(root.headers.get('location'), '/docs', 'to the docs')
  },
)

t.test('a taken PORT: one line naming PORT and the port, exit 1, nothing left running', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tenantry-taken-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const port = await occupy(t)
  const pgPort = await freePort()
  const server = start(dataDir, { PORT: String(port), EMBEDDED_PG_PORT: String(pgPort), DATA_DIR: dataDir })
  t.equal(await server.exited, 1, 'exit 1')
  const printed = server.stderr().trimEnd()
  t.equal(printed.split('\n').length, 1, 'one line')
  t.match(printed, new RegExp(`^PORT ${port} is already in use on 127\\.0\\.0\\.1`), 'naming the variable and the port')
  t.equal(server.stdout(), '', 'nothing else')
  t.notOk(await listening(pgPort), 'no embedded PostgreSQL left on EMBEDDED_PG_PORT')
  t.notOk(existsSync(join(dataDir, 'pg', 'postmaster.pid')), 'no cluster started')
  t.comment(`taken PORT prints: ${printed}`)
})

t.test('a taken EMBEDDED_PG_PORT: one line naming it and the port, exit 1, nothing left running', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tenantry-taken-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const pgPort = await occupy(t)
  const port = await freePort()
  const server = start(dataDir, { PORT: String(port), EMBEDDED_PG_PORT: String(pgPort), DATA_DIR: dataDir })
  t.equal(await server.exited, 1, 'exit 1')
  const printed = server.stderr().trimEnd()
  t.equal(printed.split('\n').length, 1, 'one line')
  t.match(
    printed,
    new RegExp(`^EMBEDDED_PG_PORT ${pgPort} is already in use on 127\\.0\\.0\\.1`),
    'naming the variable and the port',
  )
  t.notOk(await listening(port), 'nothing listens on PORT')
  t.notOk(existsSync(join(dataDir, 'pg', 'postmaster.pid')), 'no cluster started')
  t.comment(`taken EMBEDDED_PG_PORT prints: ${printed}`)
})
