// autocannon ships no types; only what bench/load.ts uses.
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  type Request = {
    method?: string
    path?: string
    headers?: Record<string, string>
    body?: string
    setupRequest?: (request: Request, context: Record<string, unknown>) => Request
  }
  type Options = {
    url: string
    connections?: number
    duration?: number
    timeout?: number
    requests?: Request[]
    excludeErrorStats?: boolean
  }
  type Result = { errors: number; timeouts: number; non2xx: number; statusCodeStats: Record<string, { count: number }> }
  type Instance = EventEmitter & PromiseLike<Result> & { stop: () => void }

  function autocannon(options: Options): Instance
  export default autocannon
  export type { Instance, Options, Request, Result }
}
