/**
 * Hostile path names (docs/protocol.md §2, docs/protocol.md §3.3 jail). Every one must be refused or kept
 * inside the area; the tests check that nothing outside is read or written.
 * `link-dir` and `link-file` are symlinks the tests plant inside the area,
 * pointing outside it.
 */
export function hostilePaths(): string[] {
  const targets = ['secret.txt', 'etc/passwd', 'new-file.txt'];
  const climbs = ['..', '../..', '../../..', '../../../../../../../../..', '../a/..'];
  const out = new Set<string>();
  for (const t of targets) {
    for (const c of climbs) {
      out.add(`${c}/${t}`); // plain climb
      out.add(`a/${c}/${t}`); // climb after a name
      out.add(`./${c}/${t}`);
      out.add(`a/b/${c}/../${t}`); // climb in the middle
      out.add(`${c}//${t}`); // doubled separator
      out.add(`/${c}/${t}`); // absolute then climb
    }
    out.add(`/${t}`); // absolute
    out.add(`//${t}`);
    out.add(`/tmp/${t}`);
    out.add(`~/${t}`); // home shortcut (no meaning here)
    out.add(`~root/${t}`);
    out.add(`..\\${t}`); // backslashes
    out.add(`..\\..\\${t}`);
    out.add(`a\\..\\..\\${t}`);
    out.add(`C:\\${t}`);
    out.add(`\\\\server\\share\\${t}`);
    out.add(`%2e%2e/${t}`); // percent-encoded dots and slashes
    out.add(`%2e%2e%2f${t}`);
    out.add(`..%2f${t}`);
    out.add(`%2e%2e%5c${t}`);
    out.add(`%252e%252e/${t}`); // double-encoded
    out.add(`..%c0%af${t}`); // overlong UTF-8 slash, as text
    out.add(`\uff0e\uff0e/${t}`); // fullwidth dots
    out.add(`\u2024\u2024/${t}`); // one-dot leaders
    out.add(`..\u2215${t}`); // division slash
    out.add(`..\u2044${t}`); // fraction slash
    out.add(`\uff0e\uff0e\uff0f${t}`); // fullwidth dots and slash
    out.add(`.\u200b./${t}`); // zero-width space between dots
    out.add(`.../${t}`); // three dots: an ordinary name, kept inside
    out.add(`..../${t}`);
    out.add(`. ./${t}`);
    out.add(`.. /${t}`); // trailing space (Windows-style trick)
    out.add(`..;/${t}`); // path-parameter trick
    out.add(`..%00/${t}`);
    out.add(`%00../${t}`);
    out.add(`..\\/${t}`); // backslash then slash
    out.add(`/./../${t}`);
    out.add(`a/./../../${t}`);
    out.add(`link-dir/${t}`); // through a planted symlink to a directory outside
    out.add(`./link-dir/../link-dir/${t}`);
  }
  for (const bad of ['', '.', '..', '/', '//', '/..', '../', 'link-file', 'link-dir']) out.add(bad);
  out.add('a\u0000b'); // NUL
  out.add('\u0000');
  out.add('secret.txt\u0000.jpg');
  out.add('line\nbreak');
  out.add('esc\u001b[31mred');
  out.add('del\u007f');
  out.add('a'.repeat(256)); // name too long
  out.add(`${'d/'.repeat(2100)}f`); // path too long
  out.add('.gridlink/staging'); // reserved
  out.add('\ud800'); // lone surrogate
  return [...out];
}
