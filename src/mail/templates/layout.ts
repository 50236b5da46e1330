/** What every template gets: the recipient's data from the job, and the link when the mail has one. */
export type MailContext = { data: Record<string, unknown>; link: string | null; publicUrl: string }
export type Rendered = { subject: string; text: string; html: string }
export type Template = { link: string | null; render: (context: MailContext) => Rendered }

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
/** Every value from the job (names, tenant names) is user input: escaped before it meets HTML. */
export const escapeHtml = (value: unknown) => String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!)

export const str = (value: unknown, fallback: string) =>
  typeof value === 'string' && value.length > 0 ? value : fallback

/** Plain text and a minimal HTML twin from the same paragraphs; the link, when given, as a button. */
export function layout(subject: string, paragraphs: string[], action?: { label: string; link: string }): Rendered {
  const text = [...paragraphs, ...(action ? [`${action.label}: ${action.link}`] : [])].join('\n\n')
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">',
    ...paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`),
    action ? `<p><a href="${escapeHtml(action.link)}">${escapeHtml(action.label)}</a></p>` : '',
    '</body></html>',
  ].join('\n')
  return { subject, text: `${text}\n`, html }
}
