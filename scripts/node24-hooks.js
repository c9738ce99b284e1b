// Loaded by scripts/node24.sh (NODE_OPTIONS=--import) into every Node 24
// process of the Node 24 test run: the vitest workers and the gridlink
// processes they spawn. better-sqlite3's addon in node_modules is built for
// Node 20's ABI; this points the load of that one file at the copy built for
// Node 24 in node_modules/.cache/node24/, so both builds live side by side
// and nothing in src/ knows about it.
import * as nodeModule from 'node:module';
import { pathToFileURL } from 'node:url';

/** @typedef {{ url: string }} Resolved */
/** @typedef {(specifier: string, context: unknown) => Resolved} NextResolve */
// module.registerHooks is Node >= 22.15; the @types/node of the Node 20 build does not declare it.
/** @type {(hooks: { resolve: (specifier: string, context: unknown, nextResolve: NextResolve) => Resolved }) => void} */
const registerHooks = /** @type {any} */ (nodeModule).registerHooks;

const replacement = process.env.GRIDLINK_NODE24_SQLITE_ADDON;
if (replacement === undefined || replacement === '') throw new Error('node24-hooks: GRIDLINK_NODE24_SQLITE_ADDON is not set (run through scripts/node24.sh)');
const replacementUrl = pathToFileURL(replacement).href;
const original = /\/node_modules\/better-sqlite3\/build\/Release\/better_sqlite3\.node$/u;

registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    return original.test(resolved.url) ? { ...resolved, url: replacementUrl } : resolved;
  },
});
