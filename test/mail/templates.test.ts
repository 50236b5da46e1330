/**
 * Every kind of mail renders as text and HTML: links start with PUBLIC_URL and carry the token
 * only in their fragment, values from users are escaped in HTML, and the Message-ID is the job's.
 */
import t from 'tap'
import { composeMail } from '../../src/mail/mailer.ts'
import { sealer } from '../../src/mail/seal.ts'
import { MAIL_KINDS, TEMPLATES } from '../../src/mail/templates/index.ts'

const seal = sealer('a server secret of at least thirty-two bytes')
const publicUrl = 'https://app.example.com'

t.test('each kind renders a subject, a text and an HTML body', async (t) => {
  t.same(
    MAIL_KINDS.sort(),
    [
      'change_email',
      'email_change_notice',
      'invitation',
      'password_changed',
      'reset_password',
      'signup_attempt',
      'verify_email',
    ],
    'the kinds app_private.enqueue_mail uses',
  )
  for (const kind of MAIL_KINDS) {
    const withLink = TEMPLATES[kind].link !== null
    const mail = composeMail(
      {
        kind,
        to: 'ann@example.com',
        sealed: withLink ? seal.seal('TOKEN123') : null,
        data: { name: '<Ann & "co">', tenantName: 'Acme <b>', role: 'member', newEmail: 'new@example.com' },
      },
      '42',
      { publicUrl, seal },
    )
    t.ok(mail.subject.length > 5, `${kind}: subject "${mail.subject}"`)
    t.match(mail.html, /^<!doctype html>/, `${kind}: an HTML body`)
    t.ok(mail.text.length > 40, `${kind}: a text body`)
    t.equal(mail.messageId, '<job-42@app.example.com>', `${kind}: the Message-ID is the job's`)
    t.notMatch(mail.html, /<Ann|Acme <b>/, `${kind}: user values are escaped in HTML`)
    if (withLink) {
      const link = `${publicUrl}${TEMPLATES[kind].link}#token=TOKEN123`
      t.same(mail.links, [link], `${kind}: one link, from PUBLIC_URL, the token in its fragment`)
      t.ok(mail.text.includes(link) && mail.html.includes(link), `${kind}: in both bodies`)
    } else {
      t.same(mail.links, [], `${kind}: no token link`)
      t.notMatch(mail.text, /token=/, `${kind}: and no token`)
    }
  }
})

t.test('a sealed token opens only with the same server secret, and is never the token itself', async (t) => {
  const sealed = seal.seal('TOKEN123')
  t.notMatch(sealed, /TOKEN123/)
  t.equal(seal.unseal(sealed), 'TOKEN123')
  t.throws(() => sealer('another server secret of thirty-two bytes!').unseal(sealed), 'another key cannot open it')
  t.not(seal.seal('TOKEN123'), sealed, 'a fresh IV every time')
})
