// Page and sync tokens of the demo APIs (events-api.mjs, contacts-api.mjs): opaque to clients,
// base64url of a small JSON object whose `t` tells the kinds apart, so one passed as the other
// is refused.
export const encodeToken = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

export function decodeToken(text, type) {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  try {
    const obj = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    return obj && obj.v === 1 && obj.t === type ? obj : undefined;
  } catch {
    return undefined;
  }
}

export const isSeq = (n) => Number.isSafeInteger(n) && n >= 0;
