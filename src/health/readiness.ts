/**
 * A named dependency that must be up for the instance to take traffic (the database, and what
 * app.ts adds). A check may also report the figure it judged (e.g. the NOTIFY queue usage).
 */
export type ReadinessCheck = { name: string; check: () => Promise<boolean | { up: boolean; value: number }> }
