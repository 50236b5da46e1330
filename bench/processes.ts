import { type ChildProcess, spawn } from 'node:child_process'
import { freePort } from '../src/net.ts'

/** Every child this run started, so an exit path (normal, error, signal) can end them all. */
const children = new Set<ChildProcess>()

process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
})

export type Server = { url: string; pid: number; stop: () => Promise<void> }

/**
 * Runs `script` in its own Node process (the same Node 24 binary as this one), listening on a
 * free loopback port, and waits until GET /health answers 200. The load generator then never
 * shares an event loop with the server it measures.
 */
export async function startServer(
  script: string,
  env: NodeJS.ProcessEnv,
  options: { cpuProfDir?: string } = {},
): Promise<Server> {
  const port = await freePort()
  const args = options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`, script] : [script]
  const child = spawn(process.execPath, args, {
    env: { ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  children.add(child)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  void exited.then(() => children.delete(child))
  const url = `http://127.0.0.1:${port}`

  // Bounded wait: 300 polls of 100 ms.
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${script} exited (${child.exitCode ?? child.signalCode}) before it was ready`)
    const ok = await fetch(`${url}/health`).then(
      (res) => res.ok,
      () => false,
    )
    if (ok) break
    if (attempt >= 300) {
      child.kill('SIGKILL')
      throw new Error(`${script} did not answer /health within 30 s`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }

  return {
    url,
    pid: child.pid!,
    // SIGTERM is the server's graceful shutdown (and lets --cpu-prof write its profile); a
    // server that has not exited 20 s later is killed.
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      await exited
      clearTimeout(timer)
    },
  }
}
