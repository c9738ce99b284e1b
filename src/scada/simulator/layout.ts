/**
 * The register map of the built-in substation simulator: the contract
 * between the simulator (a Modbus TCP server) and the acquisition config that
 * polls it. A real RTU replaces the simulator by publishing its own map.
 *
 * Per unit id (one "substation bay group"), feeder f (0-based) occupies
 * holding registers [f * REGISTERS_PER_FEEDER, (f + 1) * REGISTERS_PER_FEEDER):
 */
export const REGISTERS_PER_FEEDER = 10;

export const FEEDER_REGISTER = {
  /** 1 = closed, 0 = open (also readable as discrete input f). */
  breaker: 0,
  /** Bus voltage, 0.01 kV per count (1050 = 10.50 kV). */
  voltage: 1,
  /** Feeder current, 0.1 A per count. */
  current: 2,
  /** Active power, int16, 1 kW per count (negative = export). */
  activePower: 3,
  /** Reactive power, int16, 1 kvar per count. */
  reactivePower: 4,
  /** Frequency, 0.01 Hz per count (5000 = 50.00 Hz). */
  frequency: 5,
} as const;

/** Coil f is feeder f's breaker command: write true = close, false = open. */
export const breakerCoil = (feeder: number): number => feeder;

export interface SimulatorSize {
  /** Modbus unit ids 1..units answer, each with the same feeders. */
  readonly units: number;
  readonly feeders: number;
}
