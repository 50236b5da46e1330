/**
 * Resolves as soon as `condition` holds, checking every `intervalMs`; rejects after `timeoutMs`
 * naming what never happened. A test waits for the state it needs, not for a guess of how long
 * that state takes on this machine.
 */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  { timeoutMs = 10_000, intervalMs = 10 } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}
