import { layout, type Template } from './layout.ts'

export const passwordChanged: Template = {
  link: null,
  render: ({ publicUrl }) =>
    layout('Your password was changed', [
      'The password of your account was just changed, and your other devices were signed out.',
      `If it was not you, reset your password at once: ${publicUrl}/account/reset`,
    ]),
}
