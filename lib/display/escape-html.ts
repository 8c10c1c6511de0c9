/** `s` with the characters HTML gives meaning to (& < > " ') written as numeric references, for element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
