import { createServer } from 'node:net'

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
