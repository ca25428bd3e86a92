// Canned answers for the test-control fault routes (/__faults/token, /__faults/events):
// `{"responses": [{"status": 503}, {"status": 429, "retryAfter": 1}, ...], "repeat": false}`.
// One parser for both, so their request formats cannot drift apart.

// Returns `{ faults: { responses, repeat } }` or `{ error }`. `minStatus` is the lowest status
// a fault may have; `stringFields` the optional string fields a response may carry.
export function parseFaults(text, { minStatus, stringFields }) {
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
      responses: responses.map((r) => Object.fromEntries(keep.map((k) => [k, r[k]]))),
      repeat: input?.repeat === true,
    },
  };
}
