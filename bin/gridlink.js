#!/usr/bin/env node
// The `gridlink` command: the compiled CLI lives in dist/ (built by `npm ci` via `prepare`).
import { main } from '../dist/cli/main.js';

await main(process.argv);
