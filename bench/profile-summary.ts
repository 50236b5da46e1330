/**
 * Summarises a V8 .cpuprofile (from `BENCH_CPU_PROF=1 npm run bench`): self time by function
 * and by package, to tell our code from our dependencies from Node itself.
 * Usage: node bench/profile-summary.ts bench/results/prof/<file>.cpuprofile [top]
 */
import { readFileSync } from 'node:fs'

type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[] }

const file = process.argv[2]
if (!file) throw new Error('usage: node bench/profile-summary.ts <file.cpuprofile> [top]')
const top = Number(process.argv[3] ?? 25)
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile

const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const selfTime = new Map<number, number>()
for (const [index, id] of profile.samples.entries()) {
  selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0))
}
// Percentages are of busy time: idle samples (waiting for I/O) are left out.
const idleIds = new Set(profile.nodes.filter((node) => node.callFrame.functionName === '(idle)').map((node) => node.id))
for (const id of idleIds) selfTime.delete(id)
const total = [...selfTime.values()].reduce((sum, value) => sum + value, 0)

const where = (url: string) => {
  const module = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (module) return module[1]!
  if (url.includes('/src/')) return `ours: src/${url.split('/src/')[1]}`
  if (url.includes('/bench/')) return 'bench'
  if (url.startsWith('node:')) return 'node core'
  return url === '' ? 'native / vm' : url
}
const functions = new Map<string, number>()
const packages = new Map<string, number>()
for (const [id, time] of selfTime) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame
  const pkg = where(url).replace(/^ours: (src\/[^/]+).*/, 'ours: $1')
  const key = `${functionName || '(anonymous)'} ${where(url)}:${lineNumber + 1}`
  functions.set(key, (functions.get(key) ?? 0) + time)
  packages.set(pkg, (packages.get(pkg) ?? 0) + time)
}
const print = (title: string, entries: Map<string, number>) => {
  console.log(`\n${title}`)
  for (const [key, time] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * time) / total).toFixed(1).padStart(5)}%  ${(time / 1000).toFixed(0).padStart(6)} ms  ${key}`)
  }
}
console.log(`busy (non-idle) time sampled: ${(total / 1e6).toFixed(1)} s`)
print('self time by package', packages)
print('self time by function', functions)
