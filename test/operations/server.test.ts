import { type ChildProcess, spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { freePort } from '../../src/net.ts'

/** `npm start` as a user runs it: src/server.ts in its own process, nothing but environment. */
async function start(env: Record<string, string>) {
  const child = spawn(process.execPath, ['src/server.ts'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (chunk) => (output += chunk))
  child.stderr!.on('data', (chunk) => (output += chunk))
  const base = `http://127.0.0.1:${env.PORT}`
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`server exited ${child.exitCode}: ${output}`)
    const ready = await fetch(`${base}/ready`).then(
      (r) => r.ok,
      () => false,
    )
    if (ready) return { child, base, output: () => output }
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill('SIGKILL')
  throw new Error(`server not ready after 30 s: ${output}`)
}

const stop = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    child.on('exit', (code) => resolve(code))
    child.kill('SIGTERM')
  })

/**
 * A raw keep-alive connection: requests written on it after SIGTERM arrive on a connection the
 * server still holds open (fetch would open a new one, which the closed listener refuses).
 */
function rawConnection(port: string) {
  const socket = connect(Number(port), '127.0.0.1')
  let received = ''
  socket.on('data', (chunk) => (received += chunk))
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
  return {
    send(method: string, path: string, body = '', token = '') {
      socket.write(
        `${method} ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n` +
          (token ? `authorization: Bearer ${token}\r\n` : '') +
          `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      )
    },
    /** Status and content type of each response, once the server has closed the connection. */
    async responses() {
      await closed
      return [...received.matchAll(/HTTP\/1\.1 (\d{3})[\s\S]*?content-type: ([^\r;]+)/gi)].map((m) => `${m[1]} ${m[2]}`)
    },
    /** The head of the last response (its headers), once the server has closed the connection. */
    async lastHead() {
      await closed
      return received.slice(received.lastIndexOf('HTTP/1.1 ')).split('\r\n\r\n')[0]!.toLowerCase()
    },
  }
}

const post = (url: string, body: unknown, token?: string) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  })

t.test(
  'npm start on a fresh machine: embedded PostgreSQL, migrations, the API, and data that survives a restart',
  async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tenantry-start-'))
    chmodSync(dataDir, 0o755) // the cluster may run as the `postgres` system user, which must reach its directory
    t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
    const env = {
      DATA_DIR: dataDir,
      EMBEDDED_PG_PORT: String(await freePort()),
      PORT: String(await freePort()),
      HOST: '127.0.0.1',
      BCRYPT_COST: '10', // the drain below waits for eight logins on one hashing thread
    }

    const first = await start(env)
    t.teardown(() => first.child.kill('SIGKILL'))
    const docs = await fetch(`${first.base}/docs/json`)
    t.equal(docs.status, 200, '/docs/json')
    t.equal((await fetch(`${first.base}/docs/`)).status, 200, '/docs')
    const registered = await post(`${first.base}/v1/auth/register`, {
      email: 'ann@example.com',
      password: 'correct horse',
      name: 'Ann',
      tenant: { name: 'Acme', slug: 'acme' },
    })
    t.equal(registered.status, 201, 'register')
    const login = await post(`${first.base}/v1/auth/login`, { email: 'ann@example.com', password: 'correct horse' })
    t.equal(login.status, 200, 'login')
    const { refreshToken } = (await login.json()) as { refreshToken: string }
    const refreshed = await post(`${first.base}/v1/auth/refresh`, { refreshToken })
    t.equal(refreshed.status, 200, 'refresh')
    const { accessToken } = (await refreshed.json()) as { accessToken: string }
    const me = await fetch(`${first.base}/v1/me`, { headers: { authorization: `Bearer ${accessToken}` } })
    t.equal(me.status, 200, '/v1/me')
    t.equal(await stop(first.child), 0, 'SIGTERM shuts down cleanly')
    t.match(first.output(), /"reqId"/, 'structured request logs with request ids')
    t.notMatch(first.output(), /correct horse|refreshToken|eyJ/, 'no secrets or tokens in the logs')

    const second = await start(env)
    t.teardown(() => second.child.kill('SIGKILL'))
    const again = await fetch(`${second.base}/v1/me`, { headers: { authorization: `Bearer ${accessToken}` } })
    t.equal(again.status, 200, 'after a restart: same data, same development JWT secret')

    // Graceful shutdown under load: requests in flight when SIGTERM arrives still get their
    // answer (logins are slow, bcrypt, so they are certainly running). A new connection finds the
    // listener closed; a request on a connection already open is served during the drain (500 ms,
    // src/http/closing.ts) and its connection closed, or after it gets a 503 problem. The process
    // exits 0 within its grace period (15 s, src/server.ts).
    const GRACE_MS = 15_000
    const inFlight = Array.from({ length: 8 }, () =>
      post(`${second.base}/v1/auth/login`, { email: 'ann@example.com', password: 'correct horse' }).then(
        (res) => String(res.status),
        (error: { cause?: { code?: string } }) => error.cause?.code ?? 'error',
      ),
    )
    const loginBody = JSON.stringify({ email: 'ann@example.com', password: 'correct horse' })
    const held = Array.from({ length: 2 }, () => rawConnection(env.PORT))
    for (const connection of held) connection.send('POST', '/v1/auth/login', loginBody)
    // "In flight" means the server has them: wait until it logged all ten logins as received.
    const received = () => second.output().split('"url":"/v1/auth/login"').length - 1
    for (let i = 0; i < 200 && received() < 10; i++) await new Promise((resolve) => setTimeout(resolve, 25))
    t.equal(received(), 10, 'the server received all ten logins before the signal')
    const signalledAt = Date.now()
    const exit = stop(second.child).then((code) => ({ code, ms: Date.now() - signalledAt }))
    await new Promise((resolve) => setTimeout(resolve, 50))
    for (const connection of held) connection.send('GET', '/v1/me', '', accessToken)
    const late = await Promise.all(
      Array.from({ length: 8 }, () =>
        fetch(`${second.base}/v1/me`, { headers: { authorization: `Bearer ${accessToken}` } }).then(
          async (res) =>
            res.status === 503 && /problem\+json/.test(res.headers.get('content-type') ?? '')
              ? '503 problem'
              : String(res.status),
          () => 'refused', // the listener is already closed: the client may retry elsewhere at once
        ),
      ),
    )
    const outcomes = await Promise.all(inFlight)
    const onHeld = await Promise.all(held.map((connection) => connection.responses()))
    t.ok(
      onHeld.every(
        ([first, after, ...more]) =>
          first === '200 application/json' &&
          (after === '200 application/json' || after === '503 application/problem+json') &&
          more.length === 0,
      ),
      `on a held connection: the login in flight answers 200, the request sent after SIGTERM is served in the drain or refused with a problem (${JSON.stringify(onHeld)})`,
    )
    for (const connection of held) {
      t.match(await connection.lastHead(), /\r\nconnection: close(\r\n|$)/, 'and the server closes that connection')
    }
    t.same(outcomes, Array(8).fill('200'), `every request in flight was answered 200 (${outcomes.join(', ')})`)
    t.ok(
      late.every((outcome) => outcome === '200' || outcome === '503 problem' || outcome === 'refused'),
      `requests after SIGTERM (200: a connection fetch kept open, served in the drain): ${late.join(', ')}`,
    )
    const { code, ms } = await exit
    t.equal(code, 0, 'SIGTERM under load exits 0')
    t.ok(ms < GRACE_MS, `within the grace period (${ms} ms of ${GRACE_MS})`)
    const counts: Record<string, number> = {}
    for (const outcome of late) counts[outcome] = (counts[outcome] ?? 0) + 1
    t.comment(
      `SIGTERM under load: 10 in flight → 10 × 200; 2 sent after on held connections → ${JSON.stringify(onHeld.map((r) => r[1]))}; 8 sent after through fetch → ${JSON.stringify(counts)}; exit 0 after ${ms} ms`,
    )
  },
)
