import { createHmac } from 'node:crypto'

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** Hand-made JWTs, to present exactly the token an attacker would. */
export function forgeJwt(payload: Record<string, unknown>, options: { secret?: string; alg?: string } = {}): string {
  const alg = options.alg ?? 'HS256'
  const head = `${b64({ alg, typ: 'JWT' })}.${b64(payload)}`
  if (alg === 'none') return `${head}.`
  const signature = createHmac('sha256', options.secret ?? 'x'.repeat(32))
    .update(head)
    .digest('base64url')
  return `${head}.${signature}`
}

export function decodeJwt(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'))
}
