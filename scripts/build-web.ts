/**
 * Builds the web HMI, the browser page (docs/http-api.md; README.md,
 * "Repository map"), from its source in hmi/ into dist/hmi/, where
 * src/web/static-files.ts serves it: the TypeScript modules of
 * hmi/src/ bundled by esbuild into one ES module, the stylesheet minified,
 * both under content-hashed names in dist/hmi/assets/ (so they can be cached
 * for good), and index.html / 404.html copied with the hashed names filled
 * in. The trend chart's library (uPlot, a pinned npm dependency) is bundled
 * like the page's own modules, and its stylesheet through the `@import` at
 * the top of hmi/style.css. Nothing is fetched from a CDN; the page is all here.
 *
 * Run by `npm run build` (hence by `npm start`'s prepare and `npm test`):
 *   tsx scripts/build-web.ts
 */
import { readFile, rename, rm, writeFile, mkdir } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The browser page's source (hmi/): not src/web/, which is the HTTP server that serves it. */
export const WEB_SOURCE_DIR = join(ROOT, 'hmi');
/** Where the HTTP listener serves static files from (docs/http-api.md, "Static files"). */
export const WEB_OUT_DIR = join(ROOT, 'dist', 'hmi');

/** The placeholders index.html links to, and the entry that produces each. */
const ENTRIES = [
  { placeholder: '/assets/app.js', source: join(WEB_SOURCE_DIR, 'src', 'main.ts') },
  { placeholder: '/assets/app.css', source: join(WEB_SOURCE_DIR, 'style.css') },
] as const;

const STATIC_PAGES = ['index.html', '404.html'] as const;

export interface WebBuild {
  readonly outDir: string;
  /** Every file written, relative to outDir. */
  readonly files: string[];
  readonly bytes: number;
}

/** Writes a file under a temporary name first, so a running server never serves half a page. */
async function writeAtomic(path: string, data: string): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, data);
  await rename(temp, path);
}

export async function buildWeb(outDir = WEB_OUT_DIR): Promise<WebBuild> {
  const assetsDir = join(outDir, 'assets');
  // The assets of earlier builds go (their names are content hashes); index.html and 404.html are replaced atomically below.
  await rm(assetsDir, { recursive: true, force: true });
  await mkdir(assetsDir, { recursive: true });
  const result = await build({
    entryPoints: ENTRIES.map((entry) => ({ in: entry.source, out: 'app' })),
    outdir: assetsDir,
    entryNames: '[name]-[hash]',
    absWorkingDir: ROOT,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome111', 'firefox115', 'safari16.4'],
    tsconfig: join(WEB_SOURCE_DIR, 'tsconfig.json'),
    minify: true,
    sourcemap: 'linked',
    legalComments: 'none',
    charset: 'utf8',
    metafile: true,
    logLevel: 'warning',
  });
  const outputs = Object.entries(result.metafile.outputs);
  const replacements = ENTRIES.map((entry) => {
    const source = relative(ROOT, entry.source);
    const output = outputs.find(([path, meta]) => meta.entryPoint === source && !path.endsWith('.map'));
    if (output === undefined) throw new Error(`esbuild produced no output for ${source}`);
    return { placeholder: entry.placeholder, url: `/assets/${basename(output[0])}` };
  });
  const files = outputs.map(([path]) => relative(outDir, join(ROOT, path)));
  for (const page of STATIC_PAGES) {
    let html = await readFile(join(WEB_SOURCE_DIR, page), 'utf8');
    for (const { placeholder, url } of replacements) {
      if (page === 'index.html' && !html.includes(placeholder)) throw new Error(`hmi/${page} does not link ${placeholder}`);
      html = html.replaceAll(placeholder, url);
    }
    await writeAtomic(join(outDir, page), html);
    files.push(page);
  }
  const bytes = outputs.reduce((sum, [, meta]) => sum + meta.bytes, 0);
  return { outDir, files: files.sort(), bytes };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = performance.now();
  const web = await buildWeb();
  const ms = Math.round(performance.now() - started);
  console.log(`build-web: ${web.files.length} files, ${(web.bytes / 1024).toFixed(1)} KiB of assets in ${relative(process.cwd(), web.outDir)}/ (${ms} ms)`);
}
