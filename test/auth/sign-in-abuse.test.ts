import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { postFrom } from '../../bench/load.ts'
import { buildTestApp, factoriesOf, PASSWORD } from '../helpers/app.ts'

/** A real request from `localAddress` (see postFrom): one distinct client per 127.x.y.z. */
const post = (port: number, localAddress: string, path: string, body: unknown, deviceToken?: string) =>
  postFrom(`http://127.0.0.1:${port}`, localAddress, path, body, deviceToken ? { 'x-device-token': deviceToken } : {})

const tally = (values: number[]) =>
  values.reduce<Record<string, number>>((acc, v) => {
    acc[v] = (acc[v] ?? 0) + 1
    return acc
  }, {})
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

async function listen(t: Test, env: Record<string, string>) {
  const built = await buildTestApp(t, { env })
  await built.app.listen({ host: '127.0.0.1', port: 0 })
  return { ...built, port: (built.app.server.address() as AddressInfo).port }
}

t.test('failed sign-ins per account: capped whatever the address, and no weapon', async (t) => {
  // The defaults of production: 10 sign-ins per address per minute, 10 per account per 15 min.
  const { app, port } = await listen(t, {
    RATE_LIMIT_AUTH_PER_IP: '10',
    LOGIN_FAILURES_PER_ACCOUNT: '10',
    PASSWORD_HASH_THREADS: '2',
  })
  const fixtures = factoriesOf(app)
  const login = (address: string, email: string, password: string, deviceToken?: string) =>
    post(port, address, '/v1/auth/login', { email, password }, deviceToken)

  for (const round of [0, 1]) {
    t.test(`round ${round}: 200 addresses guessing one account get exactly the 10 attempts it allows`, async (t) => {
      const victim = (await fixtures.tenant()).user
      // The owner signed in from their usual device before the attack, and kept its device token.
      const home = `127.0.${10 + round}.1`
      const first = await login(home, victim.email, PASSWORD)
      t.equal(first.status, 200)
      const { deviceToken } = JSON.parse(first.body)

      const guesses = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          login(`127.${1 + round}.${Math.floor(i / 250)}.${(i % 250) + 2}`, victim.email, `wrong guess ${i}`),
        ),
      )
      // Attempts without the account's device token count: the owner's first sign-in (no token
      // yet) was one of the 10, so 9 guesses reach bcrypt and the other 191 are refused unhashed.
      t.same(tally(guesses.map((g) => g.status)), { 401: 9, 429: 191 })
      for (const refused of guesses.filter((g) => g.status === 429)) {
        const retryAfter = Number(refused.headers['retry-after'])
        t.ok(retryAfter >= 1 && retryAfter <= 900, `retry-after ${retryAfter}`)
        t.match(JSON.parse(refused.body), {
          type: '/problems/rate-limited',
          detail: /too many sign-in attempts for this account \(limit 10\)/,
        })
      }
      const lucky = await login(`127.${1 + round}.9.9`, victim.email, PASSWORD)
      t.equal(lucky.status, 429, 'even the right password from a new address waits out the cap')

      const owner = await login(home, victim.email, PASSWORD, deviceToken)
      t.equal(owner.status, 200, 'the owner still signs in from the device they used before')
      t.equal(
        (await login(home, victim.email, 'typo in it', deviceToken)).status,
        401,
        'and gets a plain 401 for a typo',
      )
      t.comment(
        `round ${round}: 200 addresses × 1 guess → ${JSON.stringify(tally(guesses.map((g) => g.status)))}; owner from home: ${owner.status}`,
      )
    })
  }

  t.test('one address cannot lock out every account', async (t) => {
    const accounts = await Promise.all(Array.from({ length: 30 }, async () => (await fixtures.tenant()).user))
    const attacker = '127.5.0.1'
    const attempts = []
    for (const account of accounts) attempts.push(await login(attacker, account.email, 'wrong password'))
    t.same(tally(attempts.map((a) => a.status)), { 401: 10, 429: 20 }, 'its own sign-in budget stops it first')
    t.match(JSON.parse(attempts.at(-1)!.body), { detail: /sign-in requests from your address/ })
    const owners = await Promise.all(accounts.map((account, i) => login(`127.5.1.${i + 1}`, account.email, PASSWORD)))
    t.same(tally(owners.map((o) => o.status)), { 200: 30 }, 'every owner, from a new address, still signs in')
  })
})

t.test('fair hashing: a login flood from one address does not make another address wait', async (t) => {
  const { app, port } = await listen(t, {
    RATE_LIMIT_AUTH_PER_IP: '100000',
    PASSWORD_HASH_THREADS: '2',
  })
  const fixtures = factoriesOf(app)
  const user = (await fixtures.tenant()).user
  const victim = '127.6.0.2'
  const sample = async () => (await login(victim, user.email, PASSWORD)).ms
  const login = (address: string, email: string, password: string) =>
    post(port, address, '/v1/auth/login', { email, password })
  await sample() // warm-up: connections, prepared statements

  const idle: number[] = []
  for (let i = 0; i < 7; i++) idle.push(await sample())

  const underFlood: number[] = []
  const positions: number[] = []
  for (let round = 0; round < 3; round++) {
    let finished = 0
    const flood = Array.from({ length: 30 }, (_, i) =>
      login('127.6.0.1', `nobody-${round}-${i}@example.com`, 'wrong password').then((answer) => {
        finished++
        return answer
      }),
    )
    await new Promise((resolve) => setTimeout(resolve, 20)) // the flood is queued first
    for (let i = 0; i < 3; i++) {
      underFlood.push(await sample())
      positions.push(finished)
    }
    t.same(tally((await Promise.all(flood)).map((a) => a.status)), { 401: 30 }, `round ${round}: the flood is served`)
  }
  const ratio = median(underFlood) / median(idle)
  t.comment(
    `fair hashing: login from another address, median ${median(idle).toFixed(0)} ms idle vs ${median(underFlood).toFixed(0)} ms during 30 parallel logins from one address → ${ratio.toFixed(2)}× (max ${Math.max(...underFlood).toFixed(0)} ms)`,
  )
  t.comment(`flood logins finished before each victim login: ${positions.join(', ')} (of 30)`)
  // The robust part: the victim never waits for the flood. FIFO would put its first login after all 30.
  t.ok(positions[0]! <= 10, `the first victim login finished after ${positions[0]} of 30 flood logins`)
  t.ok(
    positions.every((p) => p < 30),
    'every victim login finished while the flood was still running',
  )
})

t.test('a full hash queue answers 503 /unavailable with retry-after, never a hang', async (t) => {
  const { app } = await buildTestApp(t, {
    env: { PASSWORD_HASH_THREADS: '1', PASSWORD_HASH_QUEUE: '2' },
  })
  const started = performance.now()
  const answers = await Promise.all(
    Array.from({ length: 24 }, (_, i) =>
      app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { email: `queued-${i}@example.com`, password: 'wrong password' },
        remoteAddress: `10.9.0.${i + 1}`,
      }),
    ),
  )
  const took = performance.now() - started
  const statuses = tally(answers.map((a) => a.statusCode))
  t.same(Object.keys(statuses).sort(), ['401', '503'], JSON.stringify(statuses))
  t.ok(statuses[401]! >= 3, 'one running and two queued are served')
  for (const refused of answers.filter((a) => a.statusCode === 503)) {
    t.match(refused.json(), { type: '/problems/unavailable', status: 503, detail: /too many sign-ins at once/ })
    t.equal(refused.headers['retry-after'], '1')
  }
  t.comment(`24 parallel logins, 1 thread, queue of 2: ${JSON.stringify(statuses)} in ${took.toFixed(0)} ms`)
})
