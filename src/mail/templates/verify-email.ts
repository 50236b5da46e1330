import { layout, str, type Template } from './layout.ts'

export const verifyEmail: Template = {
  link: '/account/confirm',
  render: ({ data, link }) =>
    layout(
      'Confirm your email address',
      [
        `Hello ${str(data.name, 'there')},`,
        'Please confirm that this address is yours. The link works once, for 24 hours.',
        'If you did not create an account, ignore this mail.',
      ],
      { label: 'Confirm my address', link: link! },
    ),
}
