import type { IncomingMessage } from 'node:http'
import { createServer } from 'node:net'
import proxyAddr from '@fastify/proxy-addr'

/**
 * A TCP port on 127.0.0.1 that is free right now (the kernel picks it). For the throwaway
 * clusters and servers of tests, benchmarks and `npm run db:commit`, which must never assume 5432.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port')),
      )
    })
  })
}

/**
 * TRUST_PROXY as a proxy-addr trust function: a hop count trusts that many proxies in front of
 * us, a list trusts exactly those addresses or CIDRs; false trusts none. Fastify's request.ip
 * and the Socket.IO handshake (which does not go through Fastify) both use this one function,
 * so a client counts as the same address on either door.
 */
export function proxyTrust(trustProxy: number | string[] | false): ((address: string, hop: number) => boolean) | false {
  if (trustProxy === false) return false
  if (typeof trustProxy === 'number') return (_address, hop) => hop < trustProxy
  return proxyAddr.compile(trustProxy)
}

/** The client address of a raw request (a Socket.IO handshake), exactly as Fastify's request.ip. */
export function clientAddress(request: IncomingMessage, trust: ReturnType<typeof proxyTrust>): string {
  return trust === false ? (request.socket.remoteAddress ?? '') : proxyAddr(request, trust)
}
