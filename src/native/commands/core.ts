import { MAX_HEADER_BYTES } from '../../codec/index.js';
import { PROTOCOL_VERSION, commands } from '../../protocol/v1.js';
import { VERSION } from '../../version.js';
import type { CommandTable } from '../router.js';

/** Commands of the session itself: `hello` (what this server speaks) and `ping`. */
export function coreCommands(maxHeaderBytes = MAX_HEADER_BYTES): CommandTable {
  return {
    hello: async (ctx) => {
      await ctx.reply({ server: 'gridlink', version: VERSION, protocol: PROTOCOL_VERSION, maxHeaderBytes, commands: Object.keys(commands) });
    },
    ping: async (ctx) => {
      await ctx.reply({});
    },
  };
}
