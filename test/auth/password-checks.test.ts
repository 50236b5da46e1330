/**
 * Every password check is a sign-in attempt (issue 17, seen 3, 4 and 5): login, accept with an
 * existing account and DELETE /v1/me all spend the per-address sign-in budget and, without a
 * device token of the account, the per-account cap, before any hash work; the hash queue is
 * fair per account as well as per address; a device token keeps its owner able to sign in.
 * The lockout test also runs against Redis (TEST_REDIS_URL, or 127.0.0.1:6379) when one answers.
 */
import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { FairQueue, QueueFullError } from '../../src/fairness/fair-queue.ts'
import { buildTestApp, factoriesOf, PASSWORD, uniqueName } from '../helpers/app.ts'
import { invitationToken } from '../helpers/mail.ts'
import { redisAnswers, TEST_REDIS_URL } from '../helpers/redis.ts'

// 3,000+ requests and a few dozen bcrypt hashes: more than the suite's 120 s per file on a busy machine.
t.setTimeout(600_000)

const tally = (values: (number | string)[]) =>
  values.reduce<Record<string, number>>((acc, v) => {
    acc[v] = (acc[v] ?? 0) + 1
    return acc
  }, {})

type Call = { method: 'POST' | 'DELETE'; url: string; payload: object; headers?: Record<string, string> }

/** One request from `address` (the server sees it as the client address). */
async function from(app: FastifyInstance, address: string, call: Call) {
  const started = performance.now()
  const answer = await app.inject({ ...call, remoteAddress: address })
  return { status: answer.statusCode, body: answer.json(), ms: performance.now() - started }
}

const login = (email: string, password: string, deviceToken?: string): Call => ({
  method: 'POST',
  url: '/v1/auth/login',
  payload: { email, password },
  ...(deviceToken ? { headers: { 'x-device-token': deviceToken } } : {}),
})

/** An attacker's own tenant invites the victim's address: the accept then checks the victim's password. */
async function invitationTo(app: FastifyInstance, email: string): Promise<string> {
  const attacker = await factoriesOf(app).tenant()
  const created = await app.inject({
    method: 'POST',
    url: '/v1/invitations',
    headers: { authorization: `Bearer ${attacker.accessToken}` },
    payload: { email, role: 'member' },
  })
  if (created.statusCode !== 201) throw new Error(`invite: ${created.statusCode} ${created.body}`)
  return invitationToken(app, created.json().id)
}

// The defaults of production: 10 sign-in requests per address per minute, 10 attempts per account.
const LIMITS = { RATE_LIMIT_AUTH_PER_IP: '10', LOGIN_FAILURES_PER_ACCOUNT: '10', PASSWORD_HASH_THREADS: '2' }

t.test('1,000 wrong passwords through each password-checking route', async (t) => {
  const { app, factories } = await buildTestApp(t, { env: LIMITS })
  // A bystander signs in from their usual address, device token in hand, during each attack.
  const bystander = (await factories.tenant()).user
  const routes: Record<string, (email: string, accessToken: string, token: string) => Call> = {
    login: (email) => login(email, 'wrong password'),
    accept: (_email, _access, token) => ({
      method: 'POST',
      url: '/v1/invitations/accept',
      payload: { token, password: 'wrong password' },
    }),
    'DELETE /v1/me': (_email, accessToken) => ({
      method: 'DELETE',
      url: '/v1/me',
      payload: { password: 'wrong password' },
      headers: { authorization: `Bearer ${accessToken}` },
    }),
  }
  for (const [index, [name, call]] of Object.entries(routes).entries()) {
    const round = index + 1
    t.test(name, async (t) => {
      // On pro, the tenant's request budget (3,000 a minute) stays out of the way of DELETE /v1/me.
      const target = await factories.tenant({ plan: 'pro' })
      const token = await invitationTo(app, target.user.email)
      const home = `127.0.${round}.250`
      const first = await from(app, home, login(bystander.email, PASSWORD))
      t.equal(first.status, 200)
      // 1,000 addresses, one guess each (20 in flight at a time): the per-address budget never
      // binds, only the account cap.
      const answers: Awaited<ReturnType<typeof from>>[] = []
      const attack = Promise.all(
        Array.from({ length: 20 }, async (_, lane) => {
          for (let n = 0; n < 50; n++) {
            const i = lane * 50 + n
            const address = `10.${round}.${Math.floor(i / 250)}.${(i % 250) + 1}`
            answers.push(await from(app, address, call(target.user.email, target.accessToken, token)))
          }
        }),
      )
      const meanwhile = []
      for (let i = 0; i < 6; i++)
        meanwhile.push(await from(app, home, login(bystander.email, PASSWORD, first.body.deviceToken)))
      await attack
      const statuses = answers.map((a) => a.status)
      const refused = name === 'DELETE /v1/me' ? 403 : 401
      t.same(tally(statuses), { [refused]: 10, 429: 990 }, 'exactly 10 reach a password check, 990 are 429 unhashed')
      for (const a of answers.filter((a) => a.status === 429)) {
        t.match(a.body, { type: '/problems/rate-limited', detail: /too many sign-in attempts for this account/ })
      }
      t.same(tally(meanwhile.map((m) => m.status)), { 200: 6 }, 'the bystander signs in meanwhile, 6 of 6')
      t.comment(
        `${name}: 1,000 wrong passwords from 1,000 addresses → ${JSON.stringify(tally(statuses))}; ` +
          `bystander meanwhile: ${JSON.stringify(tally(meanwhile.map((m) => m.status)))} in ${meanwhile.map((m) => m.ms.toFixed(0)).join(', ')} ms`,
      )
    })
  }
})

t.test('DELETE /v1/me with its own device token cannot fill the hash queue (seen 3)', async (t) => {
  // The attacker's own account and device token: exempt from the account cap, so only the hash
  // queue's share per account stands between its guesses and everybody else's sign-ins.
  const { app, factories } = await buildTestApp(t, { env: { ...LIMITS, PASSWORD_HASH_QUEUE: '256' } })
  const attacker = (await factories.tenant({ plan: 'pro' })).user
  const signedIn = await from(app, '127.9.0.1', login(attacker.email, PASSWORD))
  const bystander = (await factories.tenant()).user
  const home = '127.9.0.2'
  const first = await from(app, home, login(bystander.email, PASSWORD))
  // 100 addresses × 4 guesses each, all at once (more than the 256 places of the queue): every
  // one of them within its per-address budget.
  const attack = Promise.all(
    Array.from({ length: 400 }, (_, i) =>
      from(app, `10.9.${Math.floor(i / 4)}.1`, {
        method: 'DELETE',
        url: '/v1/me',
        payload: { password: 'wrong password' },
        headers: {
          authorization: `Bearer ${signedIn.body.accessToken}`,
          // Absent on code without device tokens (the red run against main).
          ...(signedIn.body.deviceToken ? { 'x-device-token': signedIn.body.deviceToken } : {}),
        },
      }),
    ),
  )
  const meanwhile = []
  for (let i = 0; i < 6; i++)
    meanwhile.push(await from(app, home, login(bystander.email, PASSWORD, first.body.deviceToken)))
  const statuses = tally((await attack).map((a) => a.status))
  t.same(Object.keys(statuses).sort(), ['403', '503'], `the attacker: ${JSON.stringify(statuses)}`)
  t.same(tally(meanwhile.map((m) => m.status)), { 200: 6 }, 'the bystander: 6 of 6 signed in, no 503')
  t.comment(
    `DELETE /v1/me × 400 at once with the account's device token from 100 addresses → ${JSON.stringify(statuses)}; ` +
      `bystander meanwhile ${JSON.stringify(tally(meanwhile.map((m) => m.status)))} in ${meanwhile.map((m) => m.ms.toFixed(0)).join(', ')} ms`,
  )
})

t.test('40 accept guesses against one account: the cap answers before the 11th (seen 4)', async (t) => {
  const { app, factories } = await buildTestApp(t, { env: LIMITS })
  const victim = (await factories.tenant()).user
  const token = await invitationTo(app, victim.email)
  const answers = []
  for (let i = 1; i <= 40; i++) {
    // From 4 addresses, 10 each: never over the per-address budget. Guess 38 is the right one.
    const password = i === 38 ? PASSWORD : `wrong guess ${i}`
    const address = `127.8.${Math.ceil(i / 10)}.1`
    answers.push(
      await from(app, address, { method: 'POST', url: '/v1/invitations/accept', payload: { token, password } }),
    )
  }
  const statuses = answers.map((a) => a.status)
  t.equal(statuses.indexOf(429), 10, 'the 11th guess is the first 429')
  t.same(tally(statuses), { 401: 10, 429: 30 })
  t.equal(statuses[37], 429, 'the right password, as guess 38, is refused unchecked')
  t.comment(`40 accept guesses from 4 addresses: ${JSON.stringify(tally(statuses))}; guess 38 (right): ${statuses[37]}`)
})

const REDIS_URL = TEST_REDIS_URL
const noRedis = (await redisAnswers()) ? false : `no Redis answers at ${REDIS_URL}`

async function lockoutAttempt(t: Test, env: Record<string, string>) {
  // Room for the victim's register and 10 sign-ins from one address.
  const { app } = await buildTestApp(t, { env: { ...LIMITS, ...env, RATE_LIMIT_AUTH_PER_IP: '20' } })
  const email = `${uniqueName('victim')}@example.com`
  const home = '127.7.0.1'
  // The victim only registered: never signed in through the login form.
  const registered = await from(app, home, {
    method: 'POST',
    url: '/v1/auth/register',
    payload: { email, password: PASSWORD, name: 'Victim', tenant: { name: 'Victim', slug: uniqueName('victim') } },
  })
  t.equal(registered.status, 201)
  const deviceToken: string = registered.body.deviceToken
  t.match(deviceToken, /^[A-Za-z0-9_-]{43}$/)

  // 20 attacker requests, from 20 addresses, and 20 accept guesses through an invitation.
  const guesses = await Promise.all(
    Array.from({ length: 20 }, (_, i) => from(app, `10.7.0.${i + 1}`, login(email, `wrong guess ${i}`))),
  )
  t.same(tally(guesses.map((g) => g.status)), { 401: 10, 429: 10 })
  const token = await invitationTo(app, email)
  const accepts = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      from(app, `10.7.1.${i + 1}`, {
        method: 'POST',
        url: '/v1/invitations/accept',
        payload: { token, password: `wrong guess ${i}` },
      }),
    ),
  )
  t.same(tally(accepts.map((a) => a.status)), { 429: 20 })

  const fromHome = []
  for (let i = 0; i < 10; i++) fromHome.push(await from(app, home, login(email, PASSWORD, deviceToken)))
  t.same(tally(fromHome.map((a) => a.status)), { 200: 10 }, 'the victim signs in from their device: 10 of 10')
  t.ok(
    fromHome.every((a) => a.body.deviceToken === deviceToken),
    'the device keeps its token',
  )
  const travelling = await from(app, '127.7.9.9', login(email, PASSWORD, deviceToken))
  t.equal(travelling.status, 200, 'the device token, not the address, is what is recognised')
  const stranger = await from(app, '127.7.9.10', login(email, PASSWORD))
  t.equal(stranger.status, 429, 'without it, the cap still holds, even for the right password')
  const typo = await from(app, home, login(email, 'typo', deviceToken))
  t.equal(typo.status, 401, 'a typo from the device is a plain 401')
  // Someone else's device token is no key to this account.
  const other = await from(app, '127.7.9.11', {
    method: 'POST',
    url: '/v1/auth/register',
    payload: {
      email: `${uniqueName('other')}@example.com`,
      password: PASSWORD,
      name: 'O',
      tenant: { name: 'O', slug: uniqueName('o') },
    },
  })
  t.equal((await from(app, '127.7.9.12', login(email, PASSWORD, other.body.deviceToken))).status, 429)
  const refreshed = await app.inject({
    method: 'POST',
    url: '/v1/auth/refresh',
    payload: { refreshToken: fromHome.at(-1)!.body.refreshToken },
    headers: { 'x-device-token': deviceToken },
    remoteAddress: home,
  })
  t.equal(refreshed.json().deviceToken, deviceToken, 'refresh answers the same device token')
  return tally(fromHome.map((a) => a.status))
}

t.test('the lockout is no weapon: a device token signs its owner in (seen 5)', async (t) => {
  const outcome = await lockoutAttempt(t, {})
  t.comment(
    `without Redis: after 20 login and 20 accept guesses, the victim from their device → ${JSON.stringify(outcome)}`,
  )
})

t.test('the lockout is no weapon, with the counters in Redis', { skip: noRedis }, async (t) => {
  const outcome = await lockoutAttempt(t, {
    REDIS_URL,
    REDIS_KEY_PREFIX: `tenantry:test:${randomBytes(6).toString('hex')}:`,
  })
  t.comment(
    `with Redis: after 20 login and 20 accept guesses, the victim from their device → ${JSON.stringify(outcome)}`,
  )
})

t.test('the hash queue holds each account and each address to its share', async (t) => {
  const outcome = (p: Promise<unknown>) =>
    p.then(
      () => 'ran',
      (error: unknown) => (error instanceof QueueFullError ? 'refused' : 'failed'),
    )
  for (const [name, keysOf] of [
    ['one account from 10 addresses', (i: number) => [`address-${i}`, 'account-a']],
    ['one address for 10 accounts', (i: number) => ['address-a', `account-${i}`]],
  ] as const) {
    const queue = new FairQueue({ concurrency: 2, maxQueued: 16, perKey: 1, perKeyQueued: 2 })
    const gates: (() => void)[] = []
    const held = () => new Promise<void>((resolve) => gates.push(resolve))
    const flood = Array.from({ length: 10 }, (_, i) => outcome(queue.run(keysOf(i), held)))
    t.equal(gates.length, 1, `${name}: one of the two slots, never both`)
    t.equal(queue.queued, 2, `${name}: 2 of the 16 places in the queue`)
    const bystander = outcome(queue.run(['address-b', 'account-b'], held))
    t.equal(gates.length, 2, `${name}: a bystander takes the other slot at once`)
    while (gates.length > 0) {
      gates.shift()!()
      await new Promise(setImmediate)
    }
    t.same(tally(await Promise.all(flood)), { ran: 3, refused: 7 }, `${name}: the rest refused at once`)
    t.equal(await bystander, 'ran')
  }
})
