/**
 * Outbound safety for webhooks (SSRF): the address classifier over every range, and the
 * request path against loopback receivers only. No test here sends a packet to a private,
 * link-local or public address: refusals are proved by the classifier alone, or by a loopback
 * receiver that must see nothing while WEBHOOK_ALLOW_PRIVATE is off.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { OutboundRefused, postOutbound, refusedAddress, refusedUrl } from '../../src/webhooks/outbound.ts'

// [address, expected refusal (null: allowed)]
const TABLE: [string, string | null][] = [
  // IPv4
  ['0.0.0.0', 'unspecified'],
  ['0.1.2.3', 'unspecified'],
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['10.0.0.1', 'private'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['192.168.1.1', 'private'],
  ['169.254.169.254', 'linkLocal'],
  ['169.254.0.1', 'linkLocal'],
  ['100.64.0.1', 'carrierGradeNat'],
  ['100.100.100.200', 'carrierGradeNat'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['255.255.255.255', 'broadcast'],
  ['192.0.0.8', 'reserved'],
  ['192.0.2.10', 'reserved'],
  ['198.18.0.1', 'reserved'],
  ['198.51.100.7', 'reserved'],
  ['203.0.113.9', 'reserved'],
  ['240.0.0.1', 'reserved'],
  ['192.88.99.1', 'reserved'],
  ['192.175.48.1', 'as112'],
  ['192.52.193.1', 'amt'],
  ['8.8.8.8', null],
  ['1.1.1.1', null],
  ['172.32.0.1', null],
  ['100.128.0.1', null],
  ['169.255.0.1', null],
  // IPv6
  ['::', 'unspecified'],
  ['::1', 'loopback'],
  ['fe80::1', 'linkLocal'],
  ['fc00::1', 'uniqueLocal'],
  ['fd00:ec2::254', 'uniqueLocal'],
  ['ff02::1', 'multicast'],
  ['fec0::1', 'deprecatedSiteLocal'],
  ['100::1', 'discard'],
  ['64:ff9b::7f00:1', 'rfc6052'],
  ['64:ff9b:1::1', 'rfc6052'],
  ['2002:7f00:1::', '6to4'],
  ['2001:0:4136:e378::1', 'teredo'],
  ['2001:db8::1', 'reserved'],
  ['3fff::1', 'reserved'],
  ['::ffff:0:7f00:1', 'rfc6145'],
  ['::7f00:1', 'ipv4Compatible'],
  ['::127.0.0.1', 'loopback'],
  ['2606:4700:4700::1111', null],
  ['2a00:1450:4001:81b::200e', null],
  // IPv4-mapped IPv6: classified as the IPv4 address it carries
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['::ffff:10.0.0.1', 'private'],
  ['::ffff:169.254.169.254', 'linkLocal'],
  ['::ffff:192.168.0.1', 'private'],
  ['::ffff:0.0.0.0', 'unspecified'],
  ['::ffff:8.8.8.8', null],
  // not addresses
  ['localhost', 'not an IP address'],
  ['', 'not an IP address'],
]

t.test('the address classifier: every range, IPv4-mapped IPv6 included', async (t) => {
  const rows: string[] = []
  for (const [address, expected] of TABLE) {
    const got = refusedAddress(address)
    t.equal(got, expected, `${address || '(empty)'}: ${got ?? 'allowed'}`)
    rows.push(`${(address || '(empty)').padEnd(26)} ${got ?? 'allowed'}`)
  }
  t.comment(`SSRF table (${TABLE.length} addresses):\n${rows.join('\n')}`)
})

t.test('URLs: https only, http only with WEBHOOK_ALLOW_PRIVATE, never credentials', async (t) => {
  t.equal(refusedUrl(new URL('https://hooks.example.com/x'), false), null)
  t.equal(refusedUrl(new URL('http://hooks.example.com/x'), false), 'only https: URLs')
  t.equal(refusedUrl(new URL('http://hooks.example.com/x'), true), null)
  t.equal(refusedUrl(new URL('ftp://hooks.example.com/x'), true), 'only http: and https: URLs')
  t.equal(refusedUrl(new URL('https://user:pw@hooks.example.com/x'), false), 'no credentials in the URL')
})

/** A loopback receiver that records what reaches it. */
async function receiver(t: Test, answer: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const hits: { url: string; body: string }[] = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => {
      body += chunk
    })
    req.on('end', () => {
      hits.push({ url: req.url ?? '', body })
      answer(req, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { hits, port: (server.address() as AddressInfo).port }
}

const OPTIONS = { connectTimeoutMs: 1000, timeoutMs: 2000, maxResponseBytes: 1024 }

t.test('loopback receivers: refused unless WEBHOOK_ALLOW_PRIVATE; no redirect; bodies capped; timeouts', async (t) => {
  const ok = await receiver(t, (_req, res) => res.writeHead(200).end('thanks'))
  for (const host of ['127.0.0.1', 'localhost', '[::ffff:127.0.0.1]']) {
    const url = new URL(`http://${host}:${ok.port}/hook`)
    const refused = await postOutbound(url, '{}', {}, { ...OPTIONS, allowPrivate: false }).catch((error) => error)
    t.ok(refused instanceof OutboundRefused, `${host}, allowPrivate off: refused (${refused.message})`)
  }
  // Over https (so the scheme passes): IP literals are refused as they are, before connecting…
  for (const host of ['127.0.0.1', '[::1]', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]']) {
    const url = new URL(`https://${host}:${ok.port}/hook`)
    const refused = await postOutbound(url, '{}', {}, { ...OPTIONS, allowPrivate: false }).catch((error) => error)
    t.ok(refused instanceof OutboundRefused, `https://${host}: refused (${refused.message})`)
  }
  // …and localhost resolves to loopback only, so it is refused after DNS.
  const viaDns = await postOutbound(
    new URL(`https://localhost:${ok.port}/hook`),
    '{}',
    {},
    { ...OPTIONS, allowPrivate: false },
  ).catch((error) => error)
  t.ok(viaDns instanceof OutboundRefused, `https://localhost: refused after DNS (${viaDns.message})`)
  t.equal(ok.hits.length, 0, 'the receiver saw nothing')

  const allowed = await postOutbound(
    new URL(`http://localhost:${ok.port}/hook`),
    '{"a":1}',
    { 'x-test': '1' },
    { ...OPTIONS, allowPrivate: true },
  )
  t.same([allowed.status, allowed.body], [200, 'thanks'], 'with WEBHOOK_ALLOW_PRIVATE: delivered')
  t.same(ok.hits, [{ url: '/hook', body: '{"a":1}' }])

  const target = await receiver(t, (_req, res) => res.writeHead(200).end())
  const redirecting = await receiver(t, (_req, res) =>
    res.writeHead(302, { location: `http://127.0.0.1:${target.port}/stolen` }).end(),
  )
  const redirected = await postOutbound(
    new URL(`http://127.0.0.1:${redirecting.port}/`),
    '{}',
    {},
    { ...OPTIONS, allowPrivate: true },
  )
  t.equal(redirected.status, 302, 'a redirect is the answer (a failed delivery), not followed')
  t.equal(target.hits.length, 0, 'the redirect target saw nothing')

  const big = await receiver(t, (_req, res) => res.writeHead(200).end('x'.repeat(1_000_000)))
  const capped = await postOutbound(
    new URL(`http://127.0.0.1:${big.port}/`),
    '{}',
    {},
    { ...OPTIONS, allowPrivate: true },
  )
  t.equal(capped.body.length, 1024, 'a 1 MB answer: 1 KiB kept')

  const slow = await receiver(t, () => {
    /* never answers */
  })
  const started = performance.now()
  const timedOut = await postOutbound(
    new URL(`http://127.0.0.1:${slow.port}/`),
    '{}',
    {},
    { ...OPTIONS, allowPrivate: true },
  ).catch((error) => error)
  const ms = performance.now() - started
  t.match(timedOut.message, /no answer within 2000 ms/, `a silent receiver: given up after ${Math.round(ms)} ms`)
  t.ok(ms < 3000)
})

t.test('signatures verify with the standardwebhooks package, with either secret during a rotation', async (t) => {
  const { Webhook } = await import('standardwebhooks')
  const { newWebhookSecret, signatureHeaders } = await import('../../src/webhooks/signing.ts')
  const [fresh, old, other] = [newWebhookSecret(), newWebhookSecret(), newWebhookSecret()]
  t.match(fresh, /^whsec_[A-Za-z0-9+/]{43}=$/, 'whsec_ and 32 bytes of base64')
  const body = '{"type":"ITEM_CREATED"}'
  const headers = signatureHeaders('msg_1', new Date(), body, [fresh, old])
  t.same(new Webhook(fresh).verify(body, headers), JSON.parse(body), 'the new secret verifies')
  t.same(new Webhook(old).verify(body, headers), JSON.parse(body), 'the old one too, during the grace period')
  t.throws(() => new Webhook(other).verify(body, headers), 'another secret does not')
  t.throws(() => new Webhook(fresh).verify(`${body} `, headers), 'a changed body does not')
})
