import { changeEmail } from './change-email.ts'
import { emailChangeNotice } from './email-change-notice.ts'
import { invitation } from './invitation.ts'
import type { Template } from './layout.ts'
import { passwordChanged } from './password-changed.ts'
import { resetPassword } from './reset-password.ts'
import { signupAttempt } from './signup-attempt.ts'
import { verifyEmail } from './verify-email.ts'

export type { MailContext, Rendered, Template } from './layout.ts'

/** Every kind of mail, by the name the database enqueues it under (app_private.enqueue_mail). */
export const TEMPLATES = {
  verify_email: verifyEmail,
  reset_password: resetPassword,
  change_email: changeEmail,
  email_change_notice: emailChangeNotice,
  password_changed: passwordChanged,
  signup_attempt: signupAttempt,
  invitation,
} satisfies Record<string, Template>

export type MailKind = keyof typeof TEMPLATES
export const MAIL_KINDS = Object.keys(TEMPLATES) as MailKind[]
