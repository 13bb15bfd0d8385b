// The passphrase policy for a NEW identity, the browser's copy of the core's
// check_new_passphrase (core/include/urbis/identity.h; keep the two in step):
// at least 10 characters (code points) and 5 different ones, not a run of
// neighbouring characters or keyboard keys, not one of a short list guessed
// first (compared ignoring ASCII case). An existing identity unlocks with any
// passphrase. Works on the UTF-8 bytes, so the passphrase need not become a
// JavaScript string here (strings cannot be wiped; byte arrays can).

export const MIN_PASSPHRASE_CHARS = 10;
export const MIN_PASSPHRASE_DISTINCT = 5;

const COMMON = [
  'password123', 'password1234', 'password12345', 'passw0rd123', 'p@ssw0rd123', 'iloveyou12',
  'iloveyou123', 'qwerty12345', 'qwerty123456', '1q2w3e4r5t', '1q2w3e4r5t6y', 'q1w2e3r4t5',
  'a1b2c3d4e5', 'abc1234567', 'abcd123456', 'letmein123', 'welcome123', 'admin12345',
  'administrator', 'changeme123', 'trustno1234', 'football123', 'baseball123', 'sunshine123',
  'princess123', 'dragon12345', 'monkey12345', 'superman123', 'correcthorse', 'passphrase',
  'mypassphrase', 'secretpassword', 'urbis12345', 'urbispassword',
];
const ROWS = ['`1234567890-=', 'qwertyuiop[]\\', "asdfghjkl;'", 'zxcvbnm,./'];

// Code points of UTF-8 `bytes` (an invalid byte counts as itself).
function codePoints(bytes) {
  const out = [];
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    let n = b < 0x80 ? 1 : b >> 5 === 6 ? 2 : b >> 4 === 14 ? 3 : b >> 3 === 30 ? 4 : 1;
    if (i + n > bytes.length) n = 1;
    let cp = n === 1 ? b : b & (0x7f >> n);
    for (let k = 1; k < n; k++) cp = (cp << 6) | (bytes[i + k] & 0x3f);
    out.push(cp);
    i += n;
  }
  return out;
}

function lowerAscii(cps) {
  return cps.map((c) => (c >= 65 && c <= 90 ? c + 32 : c));
}

function isSequence(cps) {
  return [1, -1].some((step) => cps.every((c, i) => i === 0 || c - cps[i - 1] === step));
}

// `lower` (code points) inside a keyboard row, forwards or backwards.
function isKeyboardRun(lower) {
  const has = (row) => {
    for (let start = 0; start + lower.length <= row.length; start++)
      if (lower.every((c, i) => row.charCodeAt(start + i) === c)) return true;
    return false;
  };
  return ROWS.some((row) => has(row) || has([...row].reverse().join('')));
}

function equalsAscii(lower, word) {
  return lower.length === word.length && lower.every((c, i) => word.charCodeAt(i) === c);
}

// null when `bytes` (UTF-8) is acceptable for a new identity, else the
// reason, a message starting "weak passphrase:".
export function weakPassphraseReason(bytes) {
  const cps = codePoints(bytes);
  try {
    if (cps.length < MIN_PASSPHRASE_CHARS)
      return `weak passphrase: it must have at least ${MIN_PASSPHRASE_CHARS} characters`;
    if (new Set(cps).size < MIN_PASSPHRASE_DISTINCT)
      return `weak passphrase: it must use at least ${MIN_PASSPHRASE_DISTINCT} different characters`;
    const lower = lowerAscii(cps);
    if (isSequence(cps) || isKeyboardRun(lower))
      return 'weak passphrase: a run of neighbouring characters or keys is guessed at once';
    if (COMMON.some((w) => equalsAscii(lower, w)))
      return 'weak passphrase: it is one of the passphrases guessed first; choose another';
    return null;
  } finally {
    cps.fill(0);
  }
}
