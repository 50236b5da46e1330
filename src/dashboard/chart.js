// The overview: events per minute over the last hour, one line per family of event types,
// drawn by uPlot (served from node_modules as /dashboard/uplot.iife.min.js, a global `uPlot`).
// Counts live in per-minute buckets that the page persists with its feed, so a reload redraws
// the last hour without asking the API for events again.

import { FAMILIES } from './events.js'

const WINDOW_MINUTES = 60
const familyIds = Object.keys(FAMILIES)
const minuteOf = (epochMs) => Math.floor(epochMs / 60_000)

export function createChart(container, totalsList) {
  /** minute (epoch minutes) → {family: count} */
  let buckets = new Map()
  let plot = null
  let pending = null

  const series = () => {
    const now = minuteOf(Date.now())
    const minutes = Array.from({ length: WINDOW_MINUTES }, (_, i) => now - WINDOW_MINUTES + 1 + i)
    const columns = familyIds.map((family) => minutes.map((minute) => buckets.get(minute)?.[family] ?? 0))
    return [minutes.map((minute) => minute * 60), ...columns]
  }

  const prune = () => {
    const oldest = minuteOf(Date.now()) - WINDOW_MINUTES
    for (const minute of buckets.keys()) if (minute <= oldest) buckets.delete(minute)
  }

  const renderTotals = (data) => {
    totalsList.replaceChildren(
      ...familyIds.map((family, index) => {
        const li = document.createElement('li')
        const swatch = document.createElement('span')
        swatch.className = `swatch swatch-${family}`
        swatch.setAttribute('aria-hidden', 'true')
        const total = data[index + 1].reduce((sum, n) => sum + n, 0)
        li.dataset.family = family
        li.append(swatch, `${FAMILIES[family].label}: ${total}`)
        return li
      }),
    )
  }

  const draw = () => {
    pending = null
    prune()
    const data = series()
    renderTotals(data)
    if (!window.uPlot) return
    if (!plot) {
      const ink = getComputedStyle(document.body).color
      const axis = { stroke: ink, grid: { stroke: '#8884', width: 1 }, ticks: { stroke: '#8884', width: 1 } }
      plot = new window.uPlot(
        {
          width: Math.max(200, container.clientWidth),
          height: 180,
          legend: { show: false },
          cursor: { show: false },
          scales: { y: { range: (_u, _min, max) => [0, Math.max(4, max)] } },
          axes: [axis, { ...axis, size: 40 }],
          series: [
            {},
            ...familyIds.map((family) => ({
              label: FAMILIES[family].label,
              stroke: FAMILIES[family].color,
              width: 2,
              points: { show: false },
            })),
          ],
        },
        data,
        container,
      )
      new ResizeObserver(() => plot.setSize({ width: Math.max(200, container.clientWidth), height: 180 })).observe(
        container,
      )
    } else {
      plot.setData(data)
    }
  }

  /** Redraws soon: many events in a burst cost one draw. */
  const schedule = () => {
    if (pending === null) pending = setTimeout(draw, 200)
  }
  // The window slides even when nothing happens.
  setInterval(schedule, 15_000)

  return {
    add(activity, family) {
      if (!family) return
      const minute = minuteOf(Date.parse(activity.createdAt))
      if (minute <= minuteOf(Date.now()) - WINDOW_MINUTES) return
      const bucket = buckets.get(minute) ?? {}
      bucket[family] = (bucket[family] ?? 0) + 1
      buckets.set(minute, bucket)
      schedule()
    },
    reset(saved = {}) {
      buckets = new Map(Object.entries(saved).map(([minute, counts]) => [Number(minute), counts]))
      schedule()
    },
    saved() {
      prune()
      return Object.fromEntries(buckets)
    },
    oldestMinuteMs: () => (minuteOf(Date.now()) - WINDOW_MINUTES + 1) * 60_000,
  }
}
