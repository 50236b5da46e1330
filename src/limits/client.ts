import { normalizeIP } from '@fastify/rate-limit'

/**
 * The address limits count a client as: IPv4-mapped IPv6 addresses as IPv4, and IPv6 by /64
 * (a single host usually holds a whole /64 and can pick any address in it). `ip` is Fastify's
 * request.ip, which honours TRUST_PROXY.
 */
export const clientKey = (ip: string): string => normalizeIP(ip, 64)
