import { badInput } from '../../../platform/errors.ts';

// Deliberately simple: one @, no spaces, a dot in the domain. RFC 5322 in full accepts addresses
// no mail system delivers to; the invitation/login flow is the real check.
const emailPattern =
  /^[^\s@"'<>(),;:\\[\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/** Lowercases and trims an email, or throws BAD_USER_INPUT naming the field. */
export function normalizeEmail(raw: string): string {
  const email = raw.trim().toLowerCase();
  if (email.length > 254 || !emailPattern.test(email)) {
    throw badInput('Email address is not valid', { field: 'email' });
  }
  return email;
}

export function cleanName(raw: string, field: string, max = 100): string {
  const name = raw.trim().replace(/\s+/g, ' ');
  if (name.length < 2) throw badInput(`${field} must be at least 2 characters`, { field });
  if (name.length > max) throw badInput(`${field} must be at most ${max} characters`, { field });
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name))
    throw badInput(`${field} must not contain control characters`, { field });
  return name;
}

export function optionalName(raw: string | null | undefined, field: string): string | null {
  return raw === null || raw === undefined || raw.trim() === '' ? null : cleanName(raw, field);
}

export { isUuid } from '../../../platform/ids.ts';

/** A URL-friendly slug from an organization name. */
export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48);
  return slug || 'org';
}
