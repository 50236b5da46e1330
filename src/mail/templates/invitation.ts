import { layout, str, type Template } from './layout.ts'

export const invitation: Template = {
  link: '/account/accept',
  render: ({ data, link }) =>
    layout(
      `You are invited to ${str(data.tenantName, 'a team')}`,
      [
        `${str(data.inviterName, 'The operator')} invited you to join ${str(data.tenantName, 'a team')} as ${str(data.role, 'member')}.`,
        `The invitation is valid until ${str(data.expiresAt, 'it expires')}. Accepting it with a new account or your existing one proves this address is yours.`,
      ],
      { label: 'Accept the invitation', link: link! },
    ),
}
