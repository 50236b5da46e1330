import { createHash } from 'node:crypto'
import { normalizeIP } from '@fastify/rate-limit'

/**
 * The address limits count a client as: IPv4-mapped IPv6 addresses as IPv4, and IPv6 by /64
 * (a single host usually holds a whole /64 and can pick any address in it). `ip` is Fastify's
 * request.ip, which honours TRUST_PROXY.
 */
export const clientKey = (ip: string): string => normalizeIP(ip, 64)

/**
 * The account limits count a password check against: its email, case-folded and hashed (no
 * address in a Redis key or a log). An unknown email is an account like any other, so the
 * answer cannot tell which addresses have an account.
 */
export const accountKey = (email: string): string =>
  `account:${createHash('sha256').update(email.toLowerCase()).digest('base64url')}`
