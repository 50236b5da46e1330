import { z } from 'zod'

/** A member's role in a tenant, lowest first: the order is the rank (app_public.membership_role). */
export const ROLES = ['viewer', 'member', 'admin', 'owner'] as const
export const Role = z.enum(ROLES)
export type Role = z.infer<typeof Role>

export const roleAtLeast = (role: Role, minimum: Role) => ROLES.indexOf(role) >= ROLES.indexOf(minimum)
