/**
 * Credentials in connection URLs must never reach a terminal, a log or an error report: every place that prints a
 * URL, or a message that may quote one, goes through here.
 */

// Greedy up to the last `@` of the word: a password with an unencoded `@` or `/` (a malformed URL, the very kind
// that ends up quoted in an error) is hidden whole rather than in part.
const USERINFO = /([a-z][a-z0-9+.-]*:\/\/)([^\s:@/]*):(\S*)@/gi;
const QUERY_SECRET = /([?&](?:password|pass|pwd)=)[^&#\s]*/gi;

/**
 * `text` with the password of every URL in it replaced by `***`: `redis://user:***@host:6379`,
 * `redis://:***@host`, `redis://host?password=***`. Works on malformed URLs and on whole messages.
 */
export function redactUrls(text: string): string {
  return text.replace(USERINFO, '$1$2:***@').replace(QUERY_SECRET, '$1***');
}

const WHOLE_USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)([^:@/]*):(.*)@/is;

/** One URL, password redacted; unlike `redactUrls`, it also hides a password with spaces (malformed, but typed). */
export function redactUrl(url: string): string {
  return redactUrls(url.replace(WHOLE_USERINFO, '$1$2:***@'));
}
