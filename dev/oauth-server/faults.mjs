// Canned answers for the test-control fault routes (/__faults/token, /__faults/events):
// `{"responses": [{"status": 503}, {"status": 429, "retryAfter": 1}, ...], "repeat": false}`.
// One parser for both, so their request formats cannot drift apart.

// Returns `{ faults: { responses, repeat } }` or `{ error }`. `minStatus` is the lowest status
// a fault may have; `stringFields` the optional string fields a response may carry;
// `holdAllowed`: a response may be `{holdMs}` instead (the token endpoint's).
export function parseFaults(text, { minStatus, stringFields, holdAllowed = false }) {
  let input;
  try {
    input = JSON.parse(text || '{}');
  } catch {
    return { error: 'body is not JSON' };
  }
  const responses = input?.responses ?? [];
  if (!Array.isArray(responses)) {
    return { error: '`responses` must be an array' };
  }
  for (const r of responses) {
    if (r && holdAllowed && r.holdMs !== undefined) {
      // Served by the real provider, its answer held back this long (a slow network).
      if (!(Number.isInteger(r.holdMs) && r.holdMs >= 0 && r.holdMs <= 60000)) {
        return { error: '`holdMs` must be an integer 0..60000 (milliseconds)' };
      }
      if (Object.keys(r).some((k) => k !== 'holdMs')) {
        return { error: 'a `holdMs` response takes no other field' };
      }
      continue;
    }
    if (!r || !Number.isInteger(r.status) || r.status < minStatus || r.status > 599) {
      return { error: `each response needs an integer \`status\` (${minStatus}..599)` };
    }
    if (r.retryAfter !== undefined && !(Number.isInteger(r.retryAfter) && r.retryAfter >= 0)) {
      return { error: '`retryAfter` must be a non-negative integer (seconds)' };
    }
    for (const field of stringFields) {
      if (r[field] !== undefined && typeof r[field] !== 'string') {
        return { error: `\`${field}\` must be a string` };
      }
    }
  }
  const keep = ['status', 'retryAfter', ...stringFields];
  return {
    faults: {
      responses: responses.map((r) => (r.holdMs !== undefined && holdAllowed
        ? { holdMs: r.holdMs }
        : Object.fromEntries(keep.map((k) => [k, r[k]])))),
      repeat: input?.repeat === true,
    },
  };
}
