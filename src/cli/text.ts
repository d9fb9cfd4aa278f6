/** `text`, cut to `max` characters with `...` at the end when it is longer. */
export function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 3))}...`;
}
