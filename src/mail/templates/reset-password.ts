import { layout, str, type Template } from './layout.ts'

export const resetPassword: Template = {
  link: '/account/reset',
  render: ({ data, link }) =>
    layout(
      'Reset your password',
      [
        `Hello ${str(data.name, 'there')},`,
        'Someone asked to reset the password of your account. The link works once, for 1 hour; ' +
          'setting a new password signs every device out.',
        'If it was not you, ignore this mail: your password stays as it is.',
      ],
      { label: 'Choose a new password', link: link! },
    ),
}
