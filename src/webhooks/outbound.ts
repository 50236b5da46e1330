import { lookup as dnsLookup } from 'node:dns'
import http from 'node:http'
import https from 'node:https'
import { isIP, type LookupFunction, type Socket } from 'node:net'
import ipaddr from 'ipaddr.js'

/**
 * Outbound requests to addresses our users choose (webhook endpoints), safe against SSRF
 * (DESIGN.md, "Integrations"; OWASP's SSRF prevention cheat sheet):
 *
 * - the address is classified after DNS resolution, and the connection goes to exactly the
 *   address that was checked (our own `lookup`; an IP literal is checked as it is), and the
 *   connected socket's remote address is checked once more: a rebinding DNS answer cannot slip
 *   another address in between;
 * - only globally routable unicast addresses pass: loopback, private, link-local (cloud metadata
 *   169.254.169.254 included), unique-local, CGNAT, multicast, reserved, documentation, and the
 *   IPv6 forms that carry an IPv4 address (mapped, NAT64, 6to4, Teredo) are refused;
 * - redirects are never followed (a 3xx is the receiver's answer, a failure);
 * - a connect timeout, a deadline for the whole exchange, and a cap on the response body read;
 * - `https:` only, unless `allowPrivate` (WEBHOOK_ALLOW_PRIVATE: development and the tests'
 *   loopback receivers), which lets every address and `http:` through.
 */

/** Why an address is refused, or null when it is globally routable unicast. */
export function refusedAddress(address: string): string | null {
  if (!ipaddr.isValid(address)) return 'not an IP address'
  // ::ffff:a.b.c.d is the IPv4 address a.b.c.d: classified as IPv4.
  const parsed = ipaddr.process(address)
  const range = parsed.range()
  if (range !== 'unicast') return range
  // The deprecated IPv4-compatible form ::a.b.c.d, which ipaddr.js calls unicast.
  if (parsed.kind() === 'ipv6' && parsed.match(IPV4_COMPATIBLE)) return 'ipv4Compatible'
  return null
}

const IPV4_COMPATIBLE = ipaddr.IPv6.parseCIDR('::/96')

export class OutboundRefused extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'OutboundRefused'
  }
}

export type OutboundOptions = {
  /** WEBHOOK_ALLOW_PRIVATE: any address, and http: too. */
  allowPrivate: boolean
  connectTimeoutMs: number
  /** The whole exchange: connect, send, status and the (capped) body. */
  timeoutMs: number
  /** Bytes of the response body kept (the rest is not read). */
  maxResponseBytes: number
  /**
   * Keep-alive connections for a run of requests to one endpoint (the worker makes one per job).
   * A pooled socket is one whose address was checked when it connected. Default: one connection
   * per request.
   */
  agent?: http.Agent
}

export type OutboundResponse = { status: number; body: string; headers: http.IncomingHttpHeaders }

/** Why this URL may not be called at all (scheme, credentials), before any DNS work. */
export function refusedUrl(url: URL, allowPrivate: boolean): string | null {
  if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:')) {
    return allowPrivate ? 'only http: and https: URLs' : 'only https: URLs'
  }
  if (url.username || url.password) return 'no credentials in the URL'
  return null
}

/** A DNS lookup that answers only addresses that pass, so the socket connects to a checked one. */
const checkedLookup =
  (allowPrivate: boolean): LookupFunction =>
  (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0)
      const list = addresses as unknown as { address: string; family: number }[]
      const usable = allowPrivate ? list : list.filter((entry) => refusedAddress(entry.address) === null)
      const first = usable[0]
      if (!first) {
        const why = list.map((entry) => `${entry.address} (${refusedAddress(entry.address)})`).join(', ')
        return callback(new OutboundRefused(`${hostname} resolves only to refused addresses: ${why}`), '', 0)
      }
      if ((options as { all?: boolean }).all)
        return (callback as (e: null, a: typeof usable) => void)(null, usable.slice(0, 1))
      return callback(null, first.address, first.family)
    })
  }

/**
 * POSTs `body` to `url` under the rules above. Resolves with the receiver's status and the first
 * `maxResponseBytes` of its body, whatever the status (a 3xx is not followed); rejects with
 * OutboundRefused for an address or URL we will not call, or with the network error.
 */
export function postOutbound(
  url: URL,
  body: string,
  headers: Record<string, string>,
  options: OutboundOptions,
): Promise<OutboundResponse> {
  const refusedBecause = refusedUrl(url, options.allowPrivate)
  if (refusedBecause) return Promise.reject(new OutboundRefused(refusedBecause))
  const hostname = url.hostname.replace(/^\[|\]$/g, '')
  if (isIP(hostname) && !options.allowPrivate) {
    const why = refusedAddress(hostname)
    if (why) return Promise.reject(new OutboundRefused(`${hostname} is a refused address (${why})`))
  }
  const client = url.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    let settled = false
    const fail = (error: Error) => {
      if (settled) return
      settled = true
      clearTimeout(deadline)
      request.destroy()
      reject(error)
    }
    const request = client.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
      lookup: checkedLookup(options.allowPrivate),
      agent: options.agent ?? false,
    })
    const deadline = setTimeout(() => fail(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs)
    request.on('socket', (socket: Socket) => {
      // The address actually connected to: checked again, whatever resolved it.
      const checkRemote = () => {
        const remote = socket.remoteAddress ?? ''
        const why = options.allowPrivate ? null : refusedAddress(remote)
        if (why) fail(new OutboundRefused(`connected to a refused address ${remote} (${why})`))
      }
      // A kept-alive socket is connected already (and was checked then): checked again anyway.
      if (!socket.connecting) return checkRemote()
      const connectTimer = setTimeout(
        () => fail(new Error(`no connection within ${options.connectTimeoutMs} ms`)),
        options.connectTimeoutMs,
      )
      socket.once('connect', () => {
        clearTimeout(connectTimer)
        checkRemote()
      })
      socket.once('close', () => clearTimeout(connectTimer))
    })
    request.on('error', fail)
    request.on('response', (response) => {
      const chunks: Buffer[] = []
      let kept = 0
      response.on('data', (chunk: Buffer) => {
        if (kept >= options.maxResponseBytes) return
        chunks.push(chunk.subarray(0, options.maxResponseBytes - kept))
        kept += Math.min(chunk.length, options.maxResponseBytes - kept)
        // Enough read: the rest of a large body is not waited for (nor is the connection kept).
        if (kept >= options.maxResponseBytes) finish(true)
      })
      const finish = (cut: boolean) => {
        if (settled) return
        settled = true
        clearTimeout(deadline)
        if (cut) request.destroy()
        resolve({
          status: response.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          headers: response.headers,
        })
      }
      response.on('end', () => finish(false))
      response.on('error', fail)
    })
    request.end(body)
  })
}
