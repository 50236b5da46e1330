import { readdirSync, readFileSync } from 'node:fs'

/**
 * CPU seconds used by groups of processes between two points in time, from /proc (Linux only;
 * elsewhere every figure is null). Tells which process a scenario is bound by: with two cores,
 * "the API is slow" and "PostgreSQL has the cores" look the same from the client.
 */
const TICKS_PER_SECOND = 100 // USER_HZ, 100 on every Linux build that matters here

/** ticks: user + system time of the process; reaped: the same for its exited, waited-for children. */
type Stat = { pid: number; ppid: number; ticks: number; reaped: number }

function readStat(pid: number): Stat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name, which is in parentheses and may itself contain spaces.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return {
      pid,
      ppid: Number(fields[1]),
      ticks: Number(fields[11]) + Number(fields[12]),
      reaped: Number(fields[13]) + Number(fields[14]),
    }
  } catch {
    return null
  }
}

function allStats(): Stat[] {
  try {
    return readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .map((name) => readStat(Number(name)))
      .filter((stat): stat is Stat => stat !== null)
  } catch {
    return []
  }
}

/** Busy ticks of the whole machine (all CPUs: user, nice, system, irq, softirq) and stolen ticks. */
function machineTicks(): { busy: number; steal: number } | null {
  try {
    const [, user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .trim()
      .split(/\s+/)
      .map(Number)
    return { busy: user! + nice! + system! + irq! + softirq!, steal: steal! }
  } catch {
    return null
  }
}

export type CpuGroups = {
  loadGenerator: number
  server: number | null
  postgres: number
  machine: number
  steal: number
}
export type CpuUse = { [K in keyof CpuGroups]: number | null } & { wallSeconds: number }

/** Snapshot of CPU ticks: this process, one server process, and a postmaster with all its backends. */
function snapshot(serverPid: number | null, postmasterPid: number): { groups: CpuGroups; at: number } | null {
  const stats = allStats()
  if (stats.length === 0) return null
  const ticks = (pid: number | null) => (pid === null ? null : (stats.find((s) => s.pid === pid)?.ticks ?? null))
  // Backends come and go (a pool closing idle connections): the postmaster's reaped-children
  // time keeps the CPU of those that exited, so nothing drops out of the sum between snapshots.
  const postmaster = stats.find((s) => s.pid === postmasterPid)
  const postgres = stats
    .filter((s) => s.ppid === postmasterPid)
    .reduce((sum, s) => sum + s.ticks, (postmaster?.ticks ?? 0) + (postmaster?.reaped ?? 0))
  const machine = machineTicks()
  return {
    groups: {
      loadGenerator: ticks(process.pid) ?? 0,
      server: ticks(serverPid),
      postgres,
      machine: machine?.busy ?? 0,
      steal: machine?.steal ?? 0,
    },
    at: performance.now(),
  }
}

/** Starts counting; the returned function gives cores used per group (CPU seconds / wall seconds). */
export function measureCpu(serverPid: number | null, postmasterPid: number | null): () => CpuUse {
  const before = postmasterPid === null ? null : snapshot(serverPid, postmasterPid)
  return () => {
    const after = postmasterPid === null ? null : snapshot(serverPid, postmasterPid)
    const wallSeconds = before && after ? (after.at - before.at) / 1000 : 0
    const cores = (key: keyof CpuGroups) => {
      const [a, b] = [before?.groups[key], after?.groups[key]]
      return a === undefined || b === undefined || a === null || b === null || wallSeconds === 0
        ? null
        : (b - a) / TICKS_PER_SECOND / wallSeconds
    }
    return {
      loadGenerator: cores('loadGenerator'),
      server: cores('server'),
      postgres: cores('postgres'),
      machine: cores('machine'),
      steal: cores('steal'),
      wallSeconds,
    }
  }
}

/** Cores the whole machine keeps busy over `milliseconds` (null where /proc is missing): is anything else running? */
export async function machineBusy(milliseconds: number): Promise<number | null> {
  const before = machineTicks()
  const started = performance.now()
  await new Promise((resolve) => setTimeout(resolve, milliseconds))
  const after = machineTicks()
  if (!before || !after) return null
  return (after.busy - before.busy) / TICKS_PER_SECOND / ((performance.now() - started) / 1000)
}
