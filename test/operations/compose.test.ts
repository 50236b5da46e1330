/**
 * docker-compose.yml, the Dockerfile and .dockerignore, read as Docker would (there is no Docker
 * engine here): the services and their healthchecks, the nginx configuration mounted from the
 * repository, what the build context holds, and production refusing the file's placeholders.
 */
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse } from 'yaml'
import { loadConfig } from '../../src/config.ts'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const read = (file: string) => readFileSync(join(REPO, file), 'utf8')

type Service = {
  image?: string
  build?: { context: string; dockerfile: string }
  command?: string[]
  environment?: Record<string, string>
  healthcheck?: { test: string[] }
  depends_on?: Record<string, { condition: string }>
  volumes?: string[]
  ports?: string[]
}
// Compose files use YAML merge keys (`<<: *api`); docker compose resolves them, so do we.
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> }
const services = compose.services

/**
 * `${NAME:-default}` and `${NAME:?message}` as docker compose interpolates them from `vars`
 * (an unset variable with a default takes the default; one marked required throws).
 */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_, name: string, kind?: string, rest?: string) => {
    if (vars[name]) return vars[name]
    if (kind === '-') return rest ?? ''
    throw new Error(`${name} must be set: ${rest}`)
  })
}
const envOf = (service: Service, vars: Record<string, string> = {}) =>
  Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), vars)]))

t.test('the services of the deployment, each with a healthcheck where something waits on it', async (t) => {
  t.same(Object.keys(services).sort(), ['api-1', 'api-2', 'lb', 'postgres', 'redis', 'worker'])
  for (const name of ['postgres', 'redis', 'api-1', 'api-2', 'lb']) {
    t.ok(services[name]!.healthcheck?.test?.length, `${name} has a healthcheck`)
  }
  t.match(services['api-1']!.healthcheck!.test.join(' '), /\/ready/, 'an API instance is healthy when /ready says so')
  for (const name of ['api-1', 'api-2', 'worker']) {
    const service = services[name]!
    t.same(service.build, { context: '.', dockerfile: 'Dockerfile' }, `${name} is built from the Dockerfile`)
    t.match(
      envOf(service),
      { NODE_ENV: 'production', REDIS_URL: 'redis://redis:6379', TRUST_PROXY: '1', HOST: '0.0.0.0', PORT: '3000' },
      `${name}: production, shared Redis counters, one trusted proxy`,
    )
  }
  t.same(services.worker!.command, ['npm', 'run', 'worker'], 'the worker runs npm run worker')
  t.same(
    ['api-1', 'api-2', 'worker'].map((name) => envOf(services[name]!).RUN_JOBS ?? 'true'),
    ['false', 'false', 'true'],
    'the API instances only enqueue jobs; the worker runs them',
  )
  t.match(envOf(services.worker!), { DATABASE_OWNER_URL: /tenantry_owner/ }, 'the worker connects as the owner role')
  t.equal(services['api-1']!.depends_on?.postgres?.condition, 'service_healthy')
  t.equal(services['api-2']!.depends_on?.['api-1']?.condition, 'service_healthy', 'api-2 waits for api-1 to migrate')
  t.equal(services.worker!.depends_on?.['api-1']?.condition, 'service_healthy', 'so does the worker')
  t.same(
    Object.keys(services.lb!.depends_on ?? {}).sort(),
    ['api-1', 'api-2'],
    'the load balancer waits for both instances',
  )
})

t.test('the load balancer runs deploy/nginx.conf as it is, in front of api-1 and api-2', async (t) => {
  // The folder, so that a replaced file reaches nginx at a reload (the rolling restart's `down`).
  t.ok(services.lb!.volumes?.includes('./deploy:/etc/nginx/tenantry:ro'), 'deploy/ mounted read-only')
  t.same(
    services.lb!.command,
    ['nginx', '-c', '/etc/nginx/tenantry/nginx.conf', '-g', 'daemon off;'],
    'nginx runs deploy/nginx.conf, in the foreground (SIGHUP to the container reloads it)',
  )
  t.ok(existsSync(join(REPO, 'deploy/nginx.conf')))
  const conf = read('deploy/nginx.conf')
  const port = envOf(services['api-1']!).PORT
  for (const upstream of ['tenantry', 'tenantry_realtime']) {
    const block = new RegExp(`upstream ${upstream} \\{([^}]*)\\}`).exec(conf)?.[1] ?? ''
    t.same(
      [...block.matchAll(/server (\S+)/g)].map((m) => m[1]),
      [`api-1:${port}`, `api-2:${port}`],
      `upstream ${upstream}: the two API services on their PORT`,
    )
  }
  t.match(conf, /upstream tenantry_realtime \{\s*hash \$remote_addr consistent;/, 'Socket.IO sticks to one instance')
  t.match(conf, /location \/socket\.io\/ \{[^}]*proxy_pass http:\/\/tenantry_realtime;/, 'for /socket.io/')
  t.match(conf, /proxy_set_header Upgrade \$http_upgrade;/, 'WebSocket upgrades pass')
  t.match(conf, /proxy_set_header X-Forwarded-For /, 'X-Forwarded-For is set (TRUST_PROXY=1)')
  t.match(conf, /location \/socket\.io\/ \{[^}]*proxy_read_timeout 1h;/, 'long-lived sockets are not cut')
})

/** .dockerignore's rules as Docker applies them: Go globs with `**`, `!` exceptions, last match wins. */
function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const negate = line.startsWith('!')
      const pattern = (negate ? line.slice(1) : line).replace(/^\/+/, '').replace(/\/+$/, '')
      const source = pattern
        .split('/')
        .map((part) =>
          part === '**'
            ? '.*'
            : part
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
        .replace(/\.\*\//g, '(?:.*/)?')
      // A pattern that matches a directory excludes everything under it.
      return { negate, regex: new RegExp(`^${source}(?:/.*)?$`) }
    })
  return (path) => {
    let ignored = false
    for (const rule of rules) if (rule.regex.test(path)) ignored = !rule.negate
    return ignored
  }
}

t.test('the build context: no node_modules, no .data, no history, tests or benchmarks', async (t) => {
  const ignored = dockerignore(read('.dockerignore'))
  for (const path of ['node_modules/fastify/package.json', 'test/openapi-types/node_modules/x', '.data/jwt-secret']) {
    t.ok(ignored(path), `${path} stays out`)
  }
  for (const path of ['.data/pg.credentials.json', '.git/HEAD', 'test/run.ts', 'bench/run.ts', '.env']) {
    t.ok(ignored(path), `${path} stays out`)
  }
  for (const path of ['src/server.ts', 'db/roles.sql', 'migrations/committed', '.gmrc', 'package-lock.json']) {
    t.notOk(ignored(path), `${path} is in`)
  }
  // The context as Docker would send it, from this checkout (node_modules and all present).
  let files = 0
  let bytes = 0
  const inContext: string[] = []
  const walk = (relative: string) => {
    for (const entry of readdirSync(join(REPO, relative))) {
      const path = relative ? `${relative}/${entry}` : entry
      if (ignored(path)) continue
      const stat = lstatSync(join(REPO, path))
      if (stat.isDirectory()) walk(path)
      else {
        files++
        bytes += stat.size
        inContext.push(path)
      }
    }
  }
  walk('')
  const leaked = inContext.filter((path) => /(^|\/)(node_modules|\.data|\.git|test|bench)(\/|$)/.test(path))
  t.same(leaked, [], 'nothing of node_modules, .data, .git, test or bench')
  t.ok(bytes < 5 * 1024 * 1024, `the context is small: ${(bytes / 1024).toFixed(0)} KiB`)
  t.comment(`build context with .dockerignore: ${files} files, ${(bytes / 1024).toFixed(0)} KiB`)

  const dockerfile = read('Dockerfile')
  t.ok((dockerfile.match(/^FROM /gm) ?? []).length >= 2, 'a multi-stage build')
  t.match(dockerfile, /npm ci --omit=dev/, 'production dependencies from the lockfile')
  const user = [...dockerfile.matchAll(/^USER (\S+)/gm)].at(-1)?.[1]
  t.ok(user && user !== 'root' && user !== '0', `the process runs as a non-root user (${user})`)
  for (const [, source] of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
    for (const path of source!.split(' ')) {
      t.ok(existsSync(join(REPO, path)) && !ignored(path), `COPY ${path}: in the context`)
    }
  }
})

t.test('production refuses the compose placeholders, and starts on secrets of your own', async (t) => {
  const api = services['api-1']!
  // Nothing set: docker compose fills in the change-me defaults.
  const placeholders = envOf(api)
  t.throws(() => loadConfig(placeholders), /JWT_SECRET: holds a change-me placeholder/)
  const message = (() => {
    try {
      loadConfig(placeholders)
    } catch (error) {
      return (error as Error).message
    }
  })()
  for (const name of ['DATABASE_URL', 'DATABASE_OWNER_URL', 'ROOT_DATABASE_URL', 'JWT_SECRET', 'SMTP_URL']) {
    t.match(message, new RegExp(`${name}: holds a change-me placeholder`), `${name} is refused by name`)
  }
  t.comment(`docker compose up with nothing set → the API says:\n${message}`)
  t.match(
    envOf(services.postgres!),
    { POSTGRES_PASSWORD: 'change-me-root' },
    'the database gets the same placeholder, so the API refuses it',
  )
  const chosen = envOf(api, {
    POSTGRES_PASSWORD: 'r-9f2c',
    TENANTRY_OWNER_PASSWORD: 'o-71ab',
    TENANTRY_APP_PASSWORD: 'a-5e0d',
    JWT_SECRET: 'j'.repeat(48),
    SMTP_URL: 'smtp://mail.example.com:587',
  })
  t.match(loadConfig(chosen), { NODE_ENV: 'production', TRUST_PROXY: 1 }, 'with secrets set, the configuration loads')
})
