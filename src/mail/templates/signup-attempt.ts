import { layout, type Template } from './layout.ts'

export const signupAttempt: Template = {
  link: null,
  render: ({ publicUrl }) =>
    layout('Someone tried to sign up with your address', [
      'Someone tried to create an account with this address, which already has one. Nothing was created.',
      `If it was you, sign in instead, or reset your password: ${publicUrl}/account/reset`,
      'If it was not you, you need not do anything.',
    ]),
}
