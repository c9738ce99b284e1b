import { CATALOGUE, exitCodeOf, type ErrorCode } from './catalogue.js';

/** The error reference (docs/errors.md), rendered from the catalogue so the two cannot drift. */
export function renderErrorDocs(): string {
  const lines = [
    '# gridlink error codes',
    '',
    'Every error a gridlink server, client or CLI reports has one of these stable codes.',
    'On the wire an error is the frame `{"cmd":"error","code":"…","message":"…"}` (with the',
    'request\'s `"v":1` and `"id"` when it answers a versioned request). The web API answers',
    'with `{"error":{"code":"…","message":"…","hint":"…"}}` and the status in the **HTTP**',
    'column (docs/http-api.md).',
    '',
    '**Fatal** errors close the connection after the error frame: framing or trust is lost.',
    'Other errors answer one request; the connection stays usable.',
    '',
    '**Exit status** of the `gridlink` command: 0 on success; on failure it prints',
    '`gridlink: <message> (<code>); <what to do>` on one line on stderr and exits with the',
    'status in the **exit** column: 2 for a usage error (also an unknown option, a missing',
    'or invalid argument, which are reported as `GL_ERR_CLIENT_USAGE`), 1 for every other failure.',
    '',
    'This file is generated from `src/errors/catalogue.ts` by `npx tsx scripts/error-docs.ts > docs/errors.md`;',
    'a test fails when they disagree.',
    '',
    '| code | meaning | what to do | fatal | HTTP | exit |',
    '|---|---|---|---|---|---|',
  ];
  for (const [code, entry] of Object.entries(CATALOGUE)) {
    const cells = [`\`${code}\``, entry.message, entry.hint.replaceAll('|', '\\|'), entry.fatal ? 'yes' : 'no', String(entry.http), String(exitCodeOf(code as ErrorCode))];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}
