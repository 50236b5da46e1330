/**
 * The deployment of docker-compose.yml without Docker: Debian's nginx running deploy/nginx.conf
 * (only its addresses and file paths substituted) in front of two `src/server.ts` processes over
 * one PostgreSQL (this file's database) and the machine's Redis, with TRUST_PROXY=1.
 *
 * Every client binds its own loopback address (127.x.y.z), so nginx sees each as a distinct
 * client, hashes it to one instance for Socket.IO, and names it in X-Forwarded-For.
 *
 * Needs /usr/sbin/nginx (NGINX_PATH) and a Redis (TEST_REDIS_URL, default 127.0.0.1:6379):
 * without either it is skipped, saying why, and under CI it fails instead.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { accessSync, chmodSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { io, type Socket } from 'socket.io-client'
import t, { type Test } from 'tap'
import { freePort } from '../../src/net.ts'
import { buildTestApp, factoriesOf, type Session } from '../helpers/app.ts'
import { createTestDatabase } from '../helpers/db.ts'
import { type Activity, sleep, tally } from '../helpers/realtime.ts'
import { redisAnswers, TEST_REDIS_URL } from '../helpers/redis.ts'
import { waitFor } from '../helpers/wait.ts'

t.setTimeout(300_000)

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const NGINX = process.env.NGINX_PATH ?? '/usr/sbin/nginx'
const UNDER_CI = Boolean(process.env.CI) && !['false', '0'].includes(process.env.CI ?? '')

/**
 * The processes of docker-compose.yml besides nginx and the databases. An API instance has a
 * port (readiness: its /ready); a process without one must merely stay up. As in the compose
 * file, the API instances only enqueue jobs (RUN_JOBS=false) and the worker, connected as the
 * owner role, runs them.
 */
type ProcessSpec = { name: string; command: string[]; port?: number; env?: Record<string, string> }
const API_ENV = { RUN_JOBS: 'false' }

const missing = (() => {
  try {
    accessSync(NGINX, constants.X_OK)
  } catch {
    return `nginx is not installed at ${NGINX} (apt-get install -y nginx; .ci/run does)`
  }
  return ''
})()
const noRedis = (await redisAnswers()) ? '' : `no Redis answers at ${TEST_REDIS_URL} (set TEST_REDIS_URL)`
const reason = [missing, noRedis].filter(Boolean).join('; ')
if (reason && !UNDER_CI) console.log(`# skipped the topology test: ${reason}`)

t.test('under CI, nginx and Redis are there', { skip: UNDER_CI ? false : 'not under CI' }, async (t) => {
  t.equal(reason, '', 'the topology test can run')
})

// ---------------------------------------------------------------------------------------------
// The pieces: instances, nginx, clients from their own addresses.

type Instance = { spec: ProcessSpec; child: ChildProcess; exited: Promise<number | null> }

function launch(t: Test, spec: ProcessSpec, env: Record<string, string>): Instance {
  const child = spawn(spec.command[0]!, spec.command.slice(1), {
    cwd: REPO,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NODE_ENV: 'test',
      LOG_LEVEL: 'error',
      HOST: '127.0.0.1',
      ...env,
      ...spec.env,
      ...(spec.port ? { PORT: String(spec.port) } : {}),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  return { spec, child, exited }
}

async function untilReady(instance: Instance) {
  if (!instance.spec.port) {
    await sleep(1000)
    if (instance.child.exitCode !== null) throw new Error(`${instance.spec.name} exited ${instance.child.exitCode}`)
    return
  }
  await waitFor(
    `${instance.spec.name} ready`,
    async () => {
      if (instance.child.exitCode !== null) throw new Error(`${instance.spec.name} exited ${instance.child.exitCode}`)
      return fetch(`http://127.0.0.1:${instance.spec.port}/ready`).then(
        (r) => r.ok,
        () => false,
      )
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  )
}

/**
 * deploy/nginx.conf with the instances' addresses, a loopback listen address and file paths of
 * this run; everything else exactly as docker-compose.yml mounts it. Each substitution must
 * match as many times as expected, or the file changed shape and this test says so.
 */
function nginxConfig(dir: string, listen: number, apis: [number, number]): string {
  let text = readFileSync(join(REPO, 'deploy/nginx.conf'), 'utf8')
  const substitute = (pattern: RegExp, replacement: string, times: number) => {
    const found = text.match(new RegExp(pattern.source, 'gm'))?.length ?? 0
    if (found !== times) throw new Error(`deploy/nginx.conf: expected ${times} × ${pattern}, found ${found}`)
    text = text.replace(new RegExp(pattern.source, 'gm'), replacement)
  }
  substitute(/^error_log \/dev\/stderr/, `error_log ${dir}/error.log`, 1)
  substitute(/access_log \/dev\/stdout/, `access_log ${dir}/access.log`, 1)
  substitute(/server api-1:3000/, `server 127.0.0.1:${apis[0]}`, 2)
  substitute(/server api-2:3000/, `server 127.0.0.1:${apis[1]}`, 2)
  substitute(/listen 80;/, `listen 127.0.0.1:${listen};`, 1)
  // Temporary files where this run's nginx may write them (Debian's default is /var/lib/nginx).
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${dir}/${kind};`)
  substitute(/^http \{$/, `http {\n${temp.join('\n')}`, 1)
  return text
}

type Logged = { at: number; address: string; method: string; path: string; status: number; upstream: string }

/** nginx's access log (deploy/nginx.conf's `upstream` format): who asked, and which instance answered. */
function accessLog(dir: string): Logged[] {
  let text = ''
  try {
    text = readFileSync(join(dir, 'access.log'), 'utf8')
  } catch {}
  const lines: Logged[] = []
  for (const line of text.split('\n')) {
    const m = /^(\S+) \[([^\]]+)\] "(\S+) (\S+)[^"]*" (\d+) \d+ upstream=(.*?) upstream_status=/.exec(line)
    if (m) {
      // $time_local: 02/Dec/2026:09:04:12 +0000
      const at = Date.parse(m[2]!.replace(/^(\d+)\/(\w+)\/(\d+):(\S+) (\S+)$/, '$1 $2 $3 $4 $5'))
      lines.push({ at, address: m[1]!, method: m[3]!, path: m[4]!, status: Number(m[5]), upstream: m[6]! })
    }
  }
  return lines
}

type Reply = { status: number; body: string; headers: Record<string, string | string[] | undefined> }

/** One HTTP request through nginx from loopback address `from` (a new connection each time). */
function http(
  port: number,
  from: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body)
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        localAddress: from,
        agent: false,
        headers: {
          ...(body ? { 'content-type': 'application/json' } : {}),
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => (text += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

type Client = {
  address: string
  transports: string
  socket: Socket
  activities: Activity[]
  connects: number
  disconnects: number
  errors: string[]
  live: () => boolean
}

/**
 * A socket.io-client from its own loopback address through nginx; `auth` is the callback form,
 * so each reconnect sends the last activity id received, as the dashboard does.
 */
function client(t: Test, port: number, address: string, token: string, transports?: string[]): Client {
  const activities: Activity[] = []
  const errors: string[] = []
  let lastEventId: number | null = null
  let live = false
  const socket = io(`http://127.0.0.1:${port}`, {
    path: '/socket.io',
    ...(transports ? { transports } : {}), // none given: Socket.IO's default, polling then upgrade
    agent: new Agent({ localAddress: address }) as unknown as string,
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
    auth: (cb) => cb({ token, lastEventId }),
  })
  const state: Client = {
    address,
    transports: transports?.join('+') ?? 'default',
    socket,
    activities,
    connects: 0,
    disconnects: 0,
    errors,
    live: () => live,
  }
  socket.on('connect', () => {
    state.connects++
    live = false
  })
  socket.on('disconnect', () => {
    state.disconnects++
    live = false
  })
  socket.on('connect_error', (error) => errors.push(error.message))
  socket.on('live', () => {
    live = true
  })
  socket.onAny((event, data) => {
    if (event === 'live' || typeof (data as Activity)?.id !== 'number') return
    activities.push(data as Activity)
    lastEventId = (data as Activity).id
  })
  t.teardown(() => {
    socket.close()
  })
  return state
}

// ---------------------------------------------------------------------------------------------

t.test(
  'nginx (deploy/nginx.conf) in front of two API processes, Redis and one PostgreSQL',
  { skip: reason || false },
  async (t) => {
    const db = await createTestDatabase(t)
    const env = {
      DATABASE_URL: db.appUrl,
      JWT_SECRET: randomBytes(32).toString('base64url'),
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: `tenantry-topology:${randomBytes(6).toString('hex')}:`,
      TRUST_PROXY: '1',
      RATE_LIMIT_PER_IP: '25',
      BCRYPT_COST: '10',
      DATABASE_POOL_SIZE: '8',
      PASSWORD_HASH_THREADS: '1',
      REALTIME_POLL_MS: '500',
    }
    // An in-process app over the same database, only to make tenants (no HTTP budget spent).
    const { REDIS_URL: _shared, ...setupEnv } = env
    const { app: setup } = await buildTestApp(t, { db, env: setupEnv })
    const owner = await factoriesOf(setup).tenant({ plan: 'enterprise' })

    const apiPorts: [number, number] = [await freePort(), await freePort()]
    const specs: ProcessSpec[] = [
      { name: 'api-1', command: [process.execPath, 'src/server.ts'], port: apiPorts[0], env: API_ENV },
      { name: 'api-2', command: [process.execPath, 'src/server.ts'], port: apiPorts[1], env: API_ENV },
      // `npm run worker`'s own command: a SIGKILL of npm would leave its child running.
      { name: 'worker', command: [process.execPath, 'src/worker.ts'], env: { DATABASE_OWNER_URL: db.ownerUrl } },
    ]
    const running = new Map<string, Instance>()
    const begin = async (spec: ProcessSpec) => {
      const instance = launch(t, spec, env)
      running.set(spec.name, instance)
      await untilReady(instance)
    }
    await Promise.all(specs.map(begin))

    const dir = mkdtempSync(join(tmpdir(), 'tenantry-nginx-'))
    chmodSync(dir, 0o755) // nginx's workers run as nobody and write their temporary files here
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const lb = await freePort()
    const config = nginxConfig(dir, lb, apiPorts)
    writeFileSync(join(dir, 'nginx.conf'), config)
    const nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${dir}/nginx.pid;`], {
      stdio: ['ignore', 'inherit', 'inherit'],
    })
    const nginxExited = new Promise((resolve) => nginx.once('exit', resolve))
    t.teardown(async () => {
      nginx.kill('SIGQUIT')
      await nginxExited
    })
    /** One instance's `server` line, as it appears in both upstreams of this run's nginx.conf. */
    const serverLine = (port: number) => `server 127.0.0.1:${port} max_fails=0;`
    /** This run's nginx.conf with one instance marked `down` in both upstreams. */
    const drained = (port: number) => {
      const line = serverLine(port)
      if (config.split(line).length !== 3) throw new Error(`expected ${line} twice in nginx.conf`)
      return config.replaceAll(line, line.replace(';', ' down;'))
    }
    /**
     * `nginx -s reload` with this configuration: the master starts new workers with it and tells
     * the old ones to stop accepting and finish what they hold. Resolves once new workers run.
     */
    const reload = async (text: string) => {
      writeFileSync(join(dir, 'nginx.conf'), text)
      const workers = () => readFileSync(`/proc/${nginx.pid}/task/${nginx.pid}/children`, 'utf8').trim().split(/\s+/)
      const before = new Set(workers())
      nginx.kill('SIGHUP')
      await waitFor('new nginx workers', () => workers().some((pid) => pid && !before.has(pid)), {
        timeoutMs: 10_000,
        intervalMs: 20,
      })
      await sleep(300) // the old workers close their listeners just after the new ones start
    }
    await waitFor(
      'nginx answering',
      () =>
        http(lb, '127.0.0.1', 'GET', '/health').then(
          (r) => r.status === 200,
          () => false,
        ),
      { timeoutMs: 10_000, intervalMs: 50 },
    )
    const ports = new Map(specs.filter((s) => s.port).map((s) => [`127.0.0.1:${s.port}`, s.name]))
    const instanceOf = (upstream: string) => ports.get(upstream.split(', ').at(-1) ?? '') ?? upstream

    await t.test('REST through nginx: register, sign in, read and write; GET / leads to the docs', async (t) => {
      const from = '127.40.0.1'
      const email = `topology-${randomBytes(4).toString('hex')}@example.com`
      const registered = await http(lb, from, 'POST', '/v1/auth/register', {
        body: {
          email,
          password: 'correct horse battery',
          name: 'Tia',
          tenant: { name: 'Topo', slug: `topo-${randomBytes(4).toString('hex')}` },
        },
      })
      t.equal(registered.status, 201, 'register')
      const login = await http(lb, from, 'POST', '/v1/auth/login', {
        body: { email, password: 'correct horse battery' },
      })
      t.equal(login.status, 200, 'login')
      const { accessToken } = JSON.parse(login.body) as { accessToken: string }
      const results: number[] = []
      for (let i = 0; i < 6; i++) {
        results.push((await http(lb, from, 'GET', '/v1/me', { token: accessToken })).status)
        results.push(
          (await http(lb, from, 'POST', '/v1/items', { token: accessToken, body: { name: `r${i}` } })).status,
        )
      }
      t.same(
        results,
        Array.from({ length: 6 }, () => [200, 201]).flat(),
        'GET /v1/me and POST /v1/items, six times each',
      )
      const root = await http(lb, from, 'GET', '/')
      t.same([root.status, root.headers.location], [302, '/docs'], 'GET / redirects to /docs')
      const served = new Set(
        accessLog(dir)
          .filter((l) => l.address === from && l.path.startsWith('/v1/'))
          .map((l) => instanceOf(l.upstream)),
      )
      t.same([...served].sort(), ['api-1', 'api-2'], 'REST requests of one client went to both instances')
    })

    await t.test('mail queued through nginx is sent by the worker process, once', async (t) => {
      const to = `topology-invitee-${randomBytes(4).toString('hex')}@example.com`
      const invited = await http(lb, '127.40.0.9', 'POST', '/v1/invitations', {
        token: owner.accessToken,
        body: { email: to, role: 'member' },
      })
      t.equal(invited.status, 201, 'an invitation through nginx')
      const root = factoriesOf(setup).root
      const sent = async () =>
        (
          await root.query<{ n: number }>('select count(*)::int as n from app_private.dev_mail where recipient = $1', [
            to,
          ])
        ).rows[0]!.n
      await waitFor('the invitation mailed by the worker', async () => (await sent()) > 0, { timeoutMs: 15_000 })
      await sleep(1000)
      t.equal(await sent(), 1, 'the worker (the API instances run no jobs) sent it, exactly once')
    })

    await t.test('the per-address budget counts the client nginx names, across both instances via Redis', async (t) => {
      // 60 requests from one address through nginx, spread over both instances: one budget of 25.
      const tallies: Record<string, Record<number, number>> = {}
      for (const from of ['127.41.0.1', '127.41.0.2']) {
        const statuses = await Promise.all(
          Array.from({ length: 60 }, () => http(lb, from, 'GET', '/health').then((r) => r.status)),
        )
        const counts: Record<number, number> = {}
        for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1
        tallies[from] = counts
        t.same(counts, { 200: 25, 429: 35 }, `${from}: 60 requests, 25 answered, 35 refused`)
        const served = new Set(
          accessLog(dir)
            .filter((l) => l.address === from)
            .map((l) => instanceOf(l.upstream)),
        )
        t.same([...served].sort(), ['api-1', 'api-2'], `${from}: both instances counted into the one budget`)
      }
      // A client writing its own X-Forwarded-For is still counted as the address nginx saw.
      const forged = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          http(lb, '127.41.0.1', 'GET', '/health', { headers: { 'x-forwarded-for': `198.51.100.${i}` } }).then(
            (r) => r.status,
          ),
        ),
      )
      t.same(forged, Array(10).fill(429), 'a forged X-Forwarded-For buys no new budget')
      t.comment(
        `per-address budget of 25 through nginx over two instances: ${JSON.stringify(tallies)}; forged XFF: 10 × 429`,
      )
    })

    // Sockets: polling only, WebSocket only, and Socket.IO's default (polling, then upgrade) as the
    // dashboard connects; each from its own address.
    const clients: Client[] = []
    const kinds: (string[] | undefined)[] = [['polling'], ['websocket'], undefined]
    for (let i = 0; i < 12; i++) clients.push(client(t, lb, `127.42.${i}.1`, owner.accessToken, kinds[i % 3]))
    await waitFor('every socket live', () => clients.every((c) => c.live()), { timeoutMs: 20_000, intervalMs: 50 })

    const post = (port: number, session: Session, name: string) =>
      fetch(`http://127.0.0.1:${port}/v1/items`, {
        method: 'POST',
        headers: { authorization: `Bearer ${session.accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      }).then((r) => r.status)
    /** The tenant's log in commit order, from the database (over REST on a live instance). */
    const log = async (port: number): Promise<Activity[]> => {
      const all: Activity[] = []
      let cursor: string | null = null
      do {
        const res = await fetch(
          `http://127.0.0.1:${port}/v1/activities?after=0&limit=100${cursor ? `&cursor=${cursor}` : ''}`,
          {
            headers: { authorization: `Bearer ${owner.accessToken}` },
          },
        )
        const page = (await res.json()) as { data: Activity[]; nextCursor: string | null }
        all.push(...page.data)
        cursor = page.nextCursor
      } while (cursor)
      return all
    }
    /** Every client's figures for the events from `fromId` on (exclusive), once all have arrived. */
    const settle = async (port: number, afterId: number) => {
      const expected = (await log(port)).filter((a) => a.id > afterId).map((a) => a.id)
      const last = expected.at(-1)
      await waitFor(
        'every socket has the last event',
        () => clients.every((c) => c.activities.some((a) => a.id === last)),
        {
          timeoutMs: 30_000,
          intervalMs: 50,
        },
      ).catch(() => {})
      const total = { expected: 0, delivered: 0, missing: 0, duplicated: 0, misordered: 0, leaked: 0 }
      for (const c of clients) {
        const figures = tally(
          expected,
          c.activities.filter((a) => a.id > afterId),
          (a) => a.tenantId === owner.tenant.id,
        )
        for (const key of Object.keys(total) as (keyof typeof total)[]) total[key] += figures[key]
      }
      return { events: expected.length, ...total }
    }
    const lastId = async (port: number) => (await log(port)).at(-1)?.id ?? 0

    await t.test('polling, WebSocket and default clients all get events written through either instance', async (t) => {
      const sticky = new Map<string, Set<string>>()
      for (const line of accessLog(dir).filter((l) => l.path.startsWith('/socket.io/'))) {
        sticky.set(line.address, (sticky.get(line.address) ?? new Set()).add(instanceOf(line.upstream)))
      }
      // nginx logs a WebSocket when it closes: the WebSocket-only clients have no line yet.
      const perInstance: Record<string, number> = {}
      for (const c of clients.filter((c) => c.transports !== 'websocket')) {
        const served = [...(sticky.get(c.address) ?? [])]
        t.equal(
          served.length,
          1,
          `${c.address} (${c.transports}): every Socket.IO request reached one instance (${served})`,
        )
        perInstance[served[0]!] = (perInstance[served[0]!] ?? 0) + 1
      }
      t.same(
        clients.flatMap((c) => c.errors),
        [],
        'no connect error (no "Session ID unknown")',
      )
      t.comment(`polling and default sockets per instance through nginx: ${JSON.stringify(perInstance)}`)
      const from = await lastId(apiPorts[0])
      const statuses: number[] = []
      for (let i = 0; i < 40; i++) statuses.push(await post(apiPorts[i % 2]!, owner, `either ${i}`))
      t.same(statuses, Array(40).fill(201), '40 items, alternately through api-1 and api-2 directly')
      const figures = await settle(apiPorts[0], from)
      t.comment(`events through either instance → ${clients.length} sockets via nginx: ${JSON.stringify(figures)}`)
      t.same(
        [figures.expected, figures.delivered, figures.missing, figures.duplicated, figures.misordered],
        [40 * clients.length, 40 * clients.length, 0, 0, 0],
        'every socket got all 40, once, in order',
      )
    })

    await t.test(
      'killing one instance under traffic: its clients reconnect through nginx and replay, 0 lost 0 duplicated',
      async (t) => {
        // The instance holding the most polling clients (known from the log) is killed; the clients
        // that lose their connection then are the ones it held, WebSocket ones included.
        const counts: Record<string, number> = { 'api-1': 0, 'api-2': 0 }
        const onInstance = new Map<string, string>()
        for (const line of accessLog(dir).filter((l) => l.path.startsWith('/socket.io/'))) {
          onInstance.set(line.address, instanceOf(line.upstream))
        }
        for (const name of onInstance.values()) counts[name] = (counts[name] ?? 0) + 1
        const victim = (counts['api-1'] ?? 0) >= (counts['api-2'] ?? 0) ? 'api-1' : 'api-2'
        const survivorPort = victim === 'api-1' ? apiPorts[1] : apiPorts[0]
        const before = new Map(clients.map((c) => [c, { connects: c.connects, disconnects: c.disconnects }]))
        const from = await lastId(survivorPort)

        // Traffic through nginx from two writers while the victim is killed.
        let writing = true
        const outcomes: Record<string, number> = {}
        const writers = ['127.43.0.1', '127.43.0.2'].map(async (address, w) => {
          for (let i = 0; writing; i++) {
            const outcome = await http(lb, address, 'POST', '/v1/items', {
              token: owner.accessToken,
              body: { name: `kill ${w}.${i}` },
            }).then(
              (r) => String(r.status),
              (e: NodeJS.ErrnoException) => e.code ?? 'error',
            )
            outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
            await sleep(20)
          }
        })
        await sleep(1000)
        running.get(victim)!.child.kill('SIGKILL')
        await running.get(victim)!.exited
        await sleep(3000)
        writing = false
        await Promise.all(writers)
        const moved = clients.filter((c) => c.disconnects > before.get(c)!.disconnects)
        await waitFor(
          'the moved clients reconnected and went live',
          () => moved.every((c) => c.connects > before.get(c)!.connects && c.live()),
          {
            timeoutMs: 20_000,
            intervalMs: 50,
          },
        )
        const figures = await settle(survivorPort, from)
        t.comment(
          `killed ${victim} (SIGKILL) holding ${moved.length} of ${clients.length} sockets; writes through nginx meanwhile: ${JSON.stringify(outcomes)}; deliveries: ${JSON.stringify(figures)}`,
        )
        t.ok(moved.length > 0, 'the killed instance held sockets')
        t.same(
          [figures.missing, figures.duplicated, figures.misordered],
          [0, 0, 0],
          '0 lost, 0 duplicated, 0 out of order',
        )
        t.equal(figures.delivered, figures.expected, `every socket got all ${figures.events} events`)
        t.equal(
          clients.filter((c) => !moved.includes(c) && c.connects !== before.get(c)!.connects).length,
          0,
          'the other instance’s clients kept their connection',
        )
        await begin(specs.find((s) => s.name === victim)!)
      },
    )

    await t.test('a rolling restart of both instances answers every request nginx accepted', async (t) => {
      const from = await lastId(apiPorts[0])
      const errorsBefore = readFileSync(join(dir, 'error.log'), 'utf8').length
      let running_ = true
      const outcomes: Record<string, Record<string, number>> = { GET: {}, POST: {} }
      const loops = ['127.44.0.1', '127.44.0.2', '127.44.0.3', '127.44.0.4'].map(async (address, w) => {
        for (let i = 0; running_; i++) {
          const method = i % 2 ? 'POST' : 'GET'
          const outcome = await http(lb, address, method, method === 'GET' ? '/v1/items?limit=5' : '/v1/items', {
            token: owner.accessToken,
            ...(method === 'POST' ? { body: { name: `roll ${w}.${i}` } } : {}),
          }).then(
            (r) => String(r.status),
            (e: NodeJS.ErrnoException) => e.code ?? 'error',
          )
          outcomes[method]![outcome] = (outcomes[method]![outcome] ?? 0) + 1
          await sleep(10)
        }
      })
      // The procedure deploy/nginx.conf and the README give: take the instance out of nginx
      // (`down`, then a reload), stop it, start it, wait until it is ready, put it back (a reload
      // again), wait until nginx sends it requests, and only then do the next one.
      const restarts: string[] = []
      for (const [index, name] of (['api-1', 'api-2'] as const).entries()) {
        const instance = running.get(name)!
        await sleep(500)
        const started = performance.now()
        await reload(drained(apiPorts[index]!))
        instance.child.kill('SIGTERM')
        const code = await instance.exited
        await begin(instance.spec)
        await reload(config)
        const back = Math.floor(Date.now() / 1000) * 1000 // the log has whole seconds
        await waitFor(
          `nginx sends requests to ${name} again`,
          () =>
            accessLog(dir).some(
              (l) => l.at >= back && instanceOf(l.upstream) === name && l.status < 300 && l.path.startsWith('/v1/'),
            ),
          { timeoutMs: 15_000, intervalMs: 50 },
        )
        restarts.push(
          `${name}: exit ${code}, serving again after ${((performance.now() - started) / 1000).toFixed(1)} s`,
        )
      }
      await sleep(500)
      running_ = false
      await Promise.all(loops)
      await waitFor('every socket live again', () => clients.every((c) => c.live()), {
        timeoutMs: 20_000,
        intervalMs: 50,
      }).catch((error: Error) => {
        for (const c of clients.filter((c) => !c.live())) {
          t.comment(
            `not live: ${c.address} ${c.transports} connected=${c.socket.connected} connects=${c.connects} disconnects=${c.disconnects} errors=${c.errors.slice(-3).join(' | ')}`,
          )
        }
        throw error
      })
      const figures = await settle(apiPorts[0], from)
      // With the instance out of nginx before it stops, no request reaches a stopping instance:
      // anything but a 2xx (a 502 or 503, a reset) fails the test.
      const failures = (counts: Record<string, number>) =>
        Object.entries(counts)
          .filter(([status]) => !/^2\d\d$/.test(status))
          .reduce((sum, [, n]) => sum + n, 0)
      t.comment(`rolling restart: ${restarts.join('; ')}`)
      // What nginx met on the way, during the restart only.
      const kinds: Record<string, number> = {}
      for (const line of readFileSync(join(dir, 'error.log'), 'utf8').slice(errorsBefore).split('\n')) {
        const kind = / \[error\] \S+ \*\d+ (.*?) while /.exec(line)?.[1]
        if (kind) kinds[kind] = (kinds[kind] ?? 0) + 1
      }
      t.comment(`nginx errors during the rolling restart: ${JSON.stringify(kinds)}`)
      t.comment(
        `requests through nginx meanwhile: GET ${JSON.stringify(outcomes.GET)}, POST ${JSON.stringify(outcomes.POST)}`,
      )
      t.comment(`sockets through the rolling restart: ${JSON.stringify(figures)}`)
      t.ok(Object.values(outcomes.GET!).reduce((a, b) => a + b, 0) > 20, 'traffic ran throughout')
      t.equal(failures(outcomes.GET!), 0, 'every GET answered 2xx')
      t.equal(failures(outcomes.POST!), 0, 'every POST answered 2xx')
      t.same([figures.missing, figures.duplicated, figures.misordered], [0, 0, 0], 'sockets: 0 lost, 0 duplicated')
    })

    for (const [name, instance] of running) {
      t.equal(instance.child.exitCode, null, `${name} is still running at the end`)
    }
  },
)
