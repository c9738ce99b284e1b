/**
 * Prints docs/errors.md from the error catalogue:
 *   npx tsx scripts/error-docs.ts > docs/errors.md
 * tests/unit/error-catalogue.test.ts fails when the two disagree.
 */
import { renderErrorDocs } from '../src/errors/render-docs.js';

process.stdout.write(renderErrorDocs());
