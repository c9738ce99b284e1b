import { GridlinkError } from '../../src/errors/index.js';

/**
 * The GL_ERR_* code a call fails with, so a test can say what it expects in
 * one line. A call that succeeds gives 'resolved' and any other error says
 * what it was: neither can match an expected code by accident.
 */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return err instanceof GridlinkError ? err.code : `not a GridlinkError: ${String(err)}`;
  }
  return 'resolved';
}
