import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.ts'

t.test('configuration is validated at boot, naming every bad value', async (t) => {
  const error = (() => {
    try {
      loadConfig({ PORT: 'eighty', BCRYPT_COST: '8', DATABASE_URL: 'mysql://x', NODE_ENV: 'test' })
    } catch (caught) {
      return caught
    }
  })()
  t.type(error, ConfigError)
  const message = (error as Error).message
  for (const name of ['PORT', 'BCRYPT_COST', 'DATABASE_URL']) t.match(message, name)
  t.match(message, /BCRYPT_COST: must be at least 10/)
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), /JWT_SECRET: required in production/)
  t.throws(
    () => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'too short' }),
    /JWT_SECRET: must be at least 32 bytes/,
  )
  for (const NODE_ENV of ['development', 'test', 'production']) {
    t.throws(
      () => loadConfig({ NODE_ENV, JWT_SECRET: 's'.repeat(31) }),
      /JWT_SECRET: must be at least 32 bytes/,
      `a 31-byte JWT_SECRET is refused in ${NODE_ENV}`,
    )
  }
  t.throws(() => loadConfig({ JWT_SECRET: 'x' }), /JWT_SECRET/, 'a 1-byte secret is refused with NODE_ENV unset')
  const mail = { SMTP_URL: 'smtp://mail.example.com:587', PUBLIC_URL: 'https://app.example.com/' }
  t.throws(
    () => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32) }),
    /SMTP_URL: required in production\n {2}PUBLIC_URL: required in production/,
    'production refuses to start without a mail server and the public origin of its links',
  )
  t.throws(() => loadConfig({ NODE_ENV: 'test', SMTP_URL: 'http://x' }), /SMTP_URL: must be an smtp/)
  const ok = loadConfig({ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32), PORT: '8080', ...mail })
  t.equal(ok.PUBLIC_URL, 'https://app.example.com', 'links are built from PUBLIC_URL without its trailing slash')
  t.equal(loadConfig({ NODE_ENV: 'test', PORT: '3001' }).PUBLIC_URL, 'http://localhost:3001', 'dev default')
  t.equal(loadConfig({ NODE_ENV: 'test' }).EMAIL_VERIFICATION_REQUIRED, false, 'verification is optional by default')
  t.match(ok, { PORT: 8080, BCRYPT_COST: 12, ACCESS_TOKEN_TTL: 900, JWT_SECRET: 's'.repeat(32) })
  const test = loadConfig({ NODE_ENV: 'test' })
  t.ok(Buffer.byteLength(test.JWT_SECRET) >= 32, 'tests get a random secret')
})

t.test('the server listens on loopback unless HOST says otherwise', async (t) => {
  t.equal(loadConfig({ NODE_ENV: 'test' }).HOST, '127.0.0.1')
  t.equal(loadConfig({ NODE_ENV: 'test', HOST: '0.0.0.0' }).HOST, '0.0.0.0')
})

t.test('session and platform admin settings: defaults, and bad values named', async (t) => {
  const defaults = loadConfig({ NODE_ENV: 'test' })
  t.match(defaults, {
    REFRESH_REUSE_INTERVAL: 10,
    SESSION_MAX_AGE: 90 * 24 * 60 * 60,
    SESSION_PURGE_INTERVAL: 3600,
    PLATFORM_ADMIN_RATE_LIMIT: 60,
  })
  t.equal(defaults.PLATFORM_ADMIN_TOKEN, undefined, 'no platform admin token by default')
  t.equal(loadConfig({ NODE_ENV: 'test', PLATFORM_ADMIN_TOKEN: '' }).PLATFORM_ADMIN_TOKEN, undefined, 'empty is unset')
  t.equal(loadConfig({ NODE_ENV: 'test', REFRESH_REUSE_INTERVAL: '0' }).REFRESH_REUSE_INTERVAL, 0, '0 is strict mode')
  t.throws(
    () => loadConfig({ NODE_ENV: 'test', PLATFORM_ADMIN_TOKEN: 'x'.repeat(31) }),
    /PLATFORM_ADMIN_TOKEN: must be at least 32 bytes/,
  )
  t.throws(() => loadConfig({ NODE_ENV: 'test', REFRESH_REUSE_INTERVAL: '-1' }), /REFRESH_REUSE_INTERVAL/)
  t.throws(() => loadConfig({ NODE_ENV: 'test', SESSION_MAX_AGE: '0' }), /SESSION_MAX_AGE/)
})

t.test('socket limits: defaults, and bad values named', async (t) => {
  t.match(loadConfig({ NODE_ENV: 'test' }), {
    REALTIME_MAX_SOCKETS: 10_000,
    REALTIME_SOCKETS_PER_USER: 20,
    REALTIME_SOCKETS_PER_ADDRESS: 100,
    REALTIME_EVENTS_PER_MINUTE: 30,
  })
  t.throws(
    () =>
      loadConfig({
        NODE_ENV: 'test',
        REALTIME_MAX_SOCKETS: '0',
        REALTIME_SOCKETS_PER_USER: 'many',
        REALTIME_SOCKETS_PER_ADDRESS: '-1',
        REALTIME_EVENTS_PER_MINUTE: '1.5',
      }),
    /REALTIME_MAX_SOCKETS[\s\S]*REALTIME_SOCKETS_PER_USER[\s\S]*REALTIME_SOCKETS_PER_ADDRESS[\s\S]*REALTIME_EVENTS_PER_MINUTE/,
  )
})

t.test('production refuses the compose placeholders and the secrets npm start generated', async (t) => {
  const secret = 's'.repeat(32)
  // Production also needs a mail server and the origin of mailed links (issue 19).
  const production = {
    NODE_ENV: 'production',
    JWT_SECRET: secret,
    SMTP_URL: 'smtp://mail.example.com:587',
    PUBLIC_URL: 'https://tenantry.example.com',
  }
  // docker-compose.yml's defaults, as docker compose substitutes them when nothing is set.
  const compose = {
    ...production,
    JWT_SECRET: 'change-me-jwt-secret-at-least-32-bytes',
    SMTP_URL: 'smtp://change-me-smtp-host:587',
    DATABASE_URL: 'postgres://tenantry_app:change-me-app@postgres:5432/tenantry',
    DATABASE_OWNER_URL: 'postgres://tenantry_owner:change-me-owner@postgres:5432/tenantry',
    ROOT_DATABASE_URL: 'postgres://postgres:change-me-root@postgres:5432/postgres',
  }
  const error = (() => {
    try {
      loadConfig(compose)
    } catch (caught) {
      return caught as Error
    }
  })()
  t.type(error, ConfigError)
  for (const name of ['JWT_SECRET', 'DATABASE_URL', 'DATABASE_OWNER_URL', 'ROOT_DATABASE_URL', 'SMTP_URL']) {
    t.match(error?.message, new RegExp(`${name}: holds a change-me placeholder`), `${name} is named`)
  }
  t.comment(`docker-compose.yml's placeholders under NODE_ENV=production:\n${error?.message}`)
  t.ok(loadConfig({ ...compose, NODE_ENV: 'development' }), 'development accepts them (nothing is at stake)')
  const chosen = {
    ...production,
    DATABASE_URL: 'postgres://tenantry_app:k7Qp2x@postgres:5432/tenantry',
  }
  t.ok(loadConfig(chosen), 'secrets of your own pass')

  // What `npm start` generated for development, in the DATA_DIR a production process would read.
  const dataDir = mkdtempSync(join(tmpdir(), 'tenantry-config-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const devJwt = 'd'.repeat(48)
  writeFileSync(join(dataDir, 'jwt-secret'), `${devJwt}\n`)
  writeFileSync(
    join(dataDir, 'pg.credentials.json'),
    JSON.stringify({ superuser: 'r00t', owner: 'own3r', app: 'app+pw' }),
  )
  t.throws(
    () => loadConfig({ ...production, DATA_DIR: dataDir, JWT_SECRET: devJwt }),
    /JWT_SECRET: is a development secret/,
    'the development JWT secret',
  )
  t.throws(
    () =>
      loadConfig({ ...production, DATA_DIR: dataDir, DATABASE_URL: 'postgres://tenantry_app:app%2Bpw@db/tenantry' }),
    /DATABASE_URL: is a development secret/,
    'a generated database password (URL-encoded)',
  )
  t.ok(loadConfig({ ...production, DATA_DIR: dataDir }), 'other secrets pass beside a development DATA_DIR')
  t.ok(loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir, JWT_SECRET: devJwt }), 'development uses them')
})
