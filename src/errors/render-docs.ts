import { CATALOGUE } from './catalogue.js';

/** The error reference (docs/errors.md), rendered from the catalogue so the two cannot drift. */
export function renderErrorDocs(): string {
  const lines = [
    '# gridlink error codes',
    '',
    'Every error a gridlink server, client or CLI reports has one of these stable codes.',
    'On the wire an error is the frame `{"cmd":"error","code":"…","message":"…"}` (with the',
    'request\'s `"v":1` and `"id"` when it answers a versioned request). The CLI prints',
    '`gridlink: <message> (<code>); <what to do>` on one line and exits non-zero.',
    '',
    '**Fatal** errors close the connection after the error frame: framing or trust is lost.',
    'Other errors answer one request; the connection stays usable.',
    '',
    'This file is generated from `src/errors/catalogue.ts` by `npx tsx scripts/error-docs.ts > docs/errors.md`;',
    'a test fails when they disagree.',
    '',
    '| code | meaning | what to do | fatal |',
    '|---|---|---|---|',
  ];
  for (const [code, entry] of Object.entries(CATALOGUE)) {
    lines.push(`| \`${code}\` | ${entry.message} | ${entry.hint.replaceAll('|', '\\|')} | ${entry.fatal ? 'yes' : 'no'} |`);
  }
  return `${lines.join('\n')}\n`;
}
