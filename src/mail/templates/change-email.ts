import { layout, str, type Template } from './layout.ts'

export const changeEmail: Template = {
  link: '/account/confirm',
  render: ({ data, link }) =>
    layout(
      'Confirm your new email address',
      [
        `Hello ${str(data.name, 'there')},`,
        'Confirm that your account should use this address from now on. The link works once, for 24 hours.',
        'Until you confirm, nothing changes.',
      ],
      { label: 'Use this address', link: link! },
    ),
}
