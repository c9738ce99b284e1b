/**
 * The field devices of bench/scada-poll.ts, started with `child_process.fork`
 * (never run by hand): gridlink's own substation simulator (a Modbus TCP
 * server, src/scada/simulator/substation-simulator.ts, as built in dist/)
 * with `units` unit ids of `feeders` feeders each (10 registers per feeder),
 * noise on, on a free loopback port. It runs in its own process so that the
 * server's CPU time is the server's alone.
 *
 * On a `change` command it pins one feeder's current (SubstationSimulator
 * .freeze) and answers with the time the register image changed, taken right
 * after the synchronous update: from then on every read sees the new value.
 * Messages are in ./scada-protocol.ts.
 */
import { SubstationSimulator } from '../../dist/scada/simulator/substation-simulator.js';
import { CURRENT_SCALE, isTagged, type FromDevices, type StartDevices, type ToDevices } from './scada-protocol.js';
import { sendToParent, serveParent } from './forked-child.js';

let simulator: SubstationSimulator | null = null;

function send(message: FromDevices): Promise<void> {
  return sendToParent(message);
}

async function start(command: StartDevices): Promise<void> {
  if (simulator !== null) throw new Error('devices already started');
  simulator = new SubstationSimulator({ host: command.host, port: 0, units: command.units, feeders: command.feeders, noise: true, breakerTravelMs: 200, updateMs: command.updateMs });
  const address = await simulator.start();
  await send({ type: 'ready', port: address.port });
}

function running(): SubstationSimulator {
  if (simulator === null) throw new Error('devices not started');
  return simulator;
}

async function close(): Promise<void> {
  await simulator?.stop();
  simulator = null;
  await send({ type: 'closed' });
  process.exit(0);
}

async function handle(message: unknown): Promise<void> {
  if (!isTagged(message)) throw new Error(`unexpected IPC message ${JSON.stringify(message)}`);
  const command = message as ToDevices;
  switch (command.type) {
    case 'start':
      await start(command);
      break;
    case 'change': {
      // currentA × 10 is what the register holds (layout.ts); an exact count survives the round trip.
      running().freeze(command.unit, command.feeder, { currentA: command.raw * CURRENT_SCALE });
      const atNs = process.hrtime.bigint();
      const atMs = Date.now();
      await send({ type: 'changed', id: command.id, atNs, atMs });
      break;
    }
    case 'restore':
      running().unfreeze(command.unit, command.feeder);
      break;
    case 'close':
      await close();
      break;
  }
}

serveParent(handle);
