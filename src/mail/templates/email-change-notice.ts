import { layout, str, type Template } from './layout.ts'

export const emailChangeNotice: Template = {
  link: '/account/confirm',
  render: ({ data, link }) =>
    layout(
      'Your email address is about to change',
      [
        `Hello ${str(data.name, 'there')},`,
        `Someone signed in to your account asked to change its address to ${str(data.newEmail, 'another address')}. ` +
          'Nothing changes until the new address confirms.',
        'If it was not you, cancel the change and reset your password.',
      ],
      { label: 'Cancel the change', link: link! },
    ),
}
