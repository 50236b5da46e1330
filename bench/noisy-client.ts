import autocannon from 'autocannon'

/**
 * A load generator in a process of its own, for the noisy neighbour: tenant A is another client,
 * so its responses must not be parsed on the event loop that times tenant B. Driven over IPC by
 * `noisyClient()` in load.ts: {start: {url, connections, path, headers}} starts a closed loop,
 * {stop: true} ends it and answers with its status counts, {exit: true} ends the process.
 */
type Start = { url: string; connections: number; path: string; headers: Record<string, string> }
type Message = { start?: Start; stop?: true; exit?: true }

let running: ReturnType<typeof autocannon> | undefined
let statusCodes: Record<string, number> = {}

process.on('message', async (message: Message) => {
  if (message.start) {
    statusCodes = {}
    const { url, connections, path, headers } = message.start
    running = autocannon({
      url,
      connections,
      duration: 3600,
      timeout: 30,
      requests: [{ method: 'GET', path, headers }],
    })
    running.on('response', (_client: unknown, status: number) => {
      statusCodes[status] = (statusCodes[status] ?? 0) + 1
    })
    process.send?.({ started: true })
  } else if (message.stop) {
    const instance = running
    running = undefined
    instance?.stop()
    const result = instance ? await instance : { errors: 0 }
    process.send?.({ statusCodes, errors: result.errors })
  } else if (message.exit) {
    process.exit(0)
  }
})
