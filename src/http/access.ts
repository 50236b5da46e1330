import type { Role } from '../roles.ts'

/**
 * Who may call a route: anyone; any signed-in user, with or without a tenant (`user`); members
 * of at least this role; or the platform admin (`platform`, its own bearer token: src/admin/).
 * Declared per route as `config.access`; src/auth/plugin.ts enforces it, and src/http/openapi.ts
 * documents it (so it lives here, below both).
 */
export type Access = 'public' | 'user' | 'platform' | Role
