import type { DeviceConfig, PointConfig, ScadaConfig } from '../../config/scada-schema.js';
import { breakerCoil, FEEDER_REGISTER, REGISTERS_PER_FEEDER } from './layout.js';

/**
 * The acquisition configuration for the built-in simulator: one device per
 * unit id (`sub1`, `sub2`, …), six points per feeder, named
 * `sub<u>.f<n>.<quantity>`, polled at the simulator's `pollMs`. This is what
 * a config file's `scada.devices` would say for the same register map.
 */
export function simulatorDevices(simulator: ScadaConfig['simulator'], host: string, port: number): DeviceConfig[] {
  const devices: DeviceConfig[] = [];
  for (let unit = 1; unit <= simulator.units; unit += 1) {
    const points: PointConfig[] = [];
    for (let f = 0; f < simulator.feeders; f += 1) {
      const base = f * REGISTERS_PER_FEEDER;
      const name = (quantity: string): string => `sub${unit}.f${f + 1}.${quantity}`;
      const point = (p: Partial<PointConfig> & Pick<PointConfig, 'name' | 'class' | 'address'>): PointConfig => ({ source: 'holding', type: 'uint16', scale: 1, offset: 0, unit: '', deadband: 0, ...p });
      points.push(
        point({
          name: name('breaker'),
          class: 'status',
          address: base + FEEDER_REGISTER.breaker,
          states: ['open', 'closed'],
          control: { target: 'coil', address: breakerCoil(f), timeoutMs: Math.max(3_000, simulator.breakerTravelMs + 3 * simulator.pollMs) },
        }),
        point({ name: name('voltage'), class: 'telemetry', address: base + FEEDER_REGISTER.voltage, scale: 0.01, unit: 'kV', deadband: 0.05, limits: { lowLow: 9.5, low: 10, high: 11, highHigh: 11.5, hysteresis: 0.05 } }),
        point({ name: name('current'), class: 'telemetry', address: base + FEEDER_REGISTER.current, scale: 0.1, unit: 'A', deadband: 2, limits: { high: 600, highHigh: 700, hysteresis: 5 } }),
        point({ name: name('activePower'), class: 'telemetry', address: base + FEEDER_REGISTER.activePower, type: 'int16', unit: 'kW', deadband: 20 }),
        point({ name: name('reactivePower'), class: 'telemetry', address: base + FEEDER_REGISTER.reactivePower, type: 'int16', unit: 'kvar', deadband: 20 }),
        point({ name: name('frequency'), class: 'telemetry', address: base + FEEDER_REGISTER.frequency, scale: 0.01, unit: 'Hz', deadband: 0.02, limits: { lowLow: 49, low: 49.5, high: 50.5, highHigh: 51, hysteresis: 0.02 } }),
      );
    }
    devices.push({ name: `sub${unit}`, host, port, unitId: unit, pollMs: simulator.pollMs, timeoutMs: Math.min(2_000, Math.round(simulator.pollMs * 0.9)), backoffMaxMs: 10_000, points });
  }
  return devices;
}
