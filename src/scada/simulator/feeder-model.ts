import { FEEDER_REGISTER, REGISTERS_PER_FEEDER } from './layout.js';

/**
 * The physics of the built-in substation simulator, in plain TypeScript (no
 * timers, no sockets): one busbar per Modbus unit, feeders hanging off it.
 * Values are engineering units; `encode` turns them into the registers of
 * layout.ts and `decodeFeeder` turns registers back, so the simulator, its
 * tests and the acquisition agree on one scaling.
 */

/** What a feeder's registers say, in engineering units. */
export interface FeederReadings {
  /** Bus voltage, kV (register: 0.01 kV per count). */
  readonly voltageKv: number;
  /** Feeder current, A (register: 0.1 A per count). */
  readonly currentA: number;
  /** Active power, kW (register: int16, 1 kW per count; negative = export). */
  readonly activePowerKw: number;
  /** Reactive power, kvar (register: int16, 1 kvar per count). */
  readonly reactivePowerKvar: number;
  /** Frequency, Hz (register: 0.01 Hz per count). */
  readonly frequencyHz: number;
}

export interface FeederSnapshot extends FeederReadings {
  /** The breaker's position (status feedback, discrete input f, register 0). */
  readonly breakerClosed: boolean;
  /** The last command written to coil f (reads back as the coil). */
  readonly breakerCommand: boolean;
}

/** A random source in [0, 1); Math.random in production, seeded in tests if needed. */
export type Random = () => number;

export const NOMINAL_VOLTAGE_KV = 10.5;
export const NOMINAL_FREQUENCY_HZ = 50;

/** Noise half-widths (uniform): small enough to look like a healthy bus. */
const VOLTAGE_NOISE = 0.005; // ±0.5 %
const CURRENT_NOISE = 0.02; // ±2 %
const POWER_FACTOR_NOISE = 0.005;
const FREQUENCY_NOISE_HZ = 0.02;

const SQRT3 = Math.sqrt(3);

/** A value in [-1, 1). */
const symmetric = (random: Random): number => random() * 2 - 1;

export class FeederModel {
  /** Nominal load current with the breaker closed, A: 120..494, different per feeder. */
  readonly nominalCurrentA: number;
  /** Nominal power factor (lagging), 0.86..0.95. */
  readonly nominalPowerFactor: number;
  breakerClosed = true;
  breakerCommand = true;
  #currentFactor = 1;
  #powerFactor: number;
  #pinned: Partial<FeederReadings> = {};

  constructor(unit: number, feeder: number) {
    // Deterministic per (unit, feeder); feeder*97 mod 23 is distinct for 23 feeders in a row.
    this.nominalCurrentA = 120 + ((unit * 131 + feeder * 97) % 23) * 17;
    this.nominalPowerFactor = 0.86 + ((unit * 7 + feeder * 11) % 10) * 0.01;
    this.#powerFactor = this.nominalPowerFactor;
  }

  /** Draws new noise (or resets it to none). */
  redraw(random: Random | null): void {
    if (random === null) {
      this.#currentFactor = 1;
      this.#powerFactor = this.nominalPowerFactor;
      return;
    }
    this.#currentFactor = 1 + CURRENT_NOISE * symmetric(random);
    this.#powerFactor = Math.min(0.999, this.nominalPowerFactor + POWER_FACTOR_NOISE * symmetric(random));
  }

  /** Pins quantities to exact values (noise no longer applies to them) until `unpin`. */
  pin(values: Partial<FeederReadings>): void {
    this.#pinned = { ...this.#pinned, ...values };
  }

  unpin(): void {
    this.#pinned = {};
  }

  /**
   * The feeder's readings on a bus at `busVoltageKv` / `busFrequencyHz`.
   * P = √3·V·I·cosφ and Q = √3·V·I·sinφ (kV × A = kVA). An open breaker
   * carries no current, so I, P and Q are 0 — pinned or not — while the
   * voltage stays: the busbar is still energised.
   */
  readings(busVoltageKv: number, busFrequencyHz: number): FeederReadings {
    const pinned = this.#pinned;
    const voltageKv = pinned.voltageKv ?? busVoltageKv;
    const frequencyHz = pinned.frequencyHz ?? busFrequencyHz;
    if (!this.breakerClosed) return { voltageKv, currentA: 0, activePowerKw: 0, reactivePowerKvar: 0, frequencyHz };
    const currentA = pinned.currentA ?? this.nominalCurrentA * this.#currentFactor;
    const apparentKva = SQRT3 * voltageKv * currentA;
    const sinPhi = Math.sqrt(1 - this.#powerFactor * this.#powerFactor);
    return {
      voltageKv,
      currentA,
      activePowerKw: pinned.activePowerKw ?? apparentKva * this.#powerFactor,
      reactivePowerKvar: pinned.reactivePowerKvar ?? apparentKva * sinPhi,
      frequencyHz,
    };
  }
}

/** One Modbus unit: a busbar, its feeders, and the register image they publish. */
export class UnitModel {
  readonly feeders: readonly FeederModel[];
  /** Holding/input register image: feeders × REGISTERS_PER_FEEDER, refreshed by `encode`. */
  readonly registers: Uint16Array;
  busVoltageKv = NOMINAL_VOLTAGE_KV;
  busFrequencyHz = NOMINAL_FREQUENCY_HZ;

  constructor(unit: number, feeders: number) {
    this.feeders = Array.from({ length: feeders }, (_, f) => new FeederModel(unit, f));
    this.registers = new Uint16Array(feeders * REGISTERS_PER_FEEDER);
    this.encode();
  }

  redraw(random: Random | null): void {
    this.busVoltageKv = random === null ? NOMINAL_VOLTAGE_KV : NOMINAL_VOLTAGE_KV * (1 + VOLTAGE_NOISE * symmetric(random));
    this.busFrequencyHz = random === null ? NOMINAL_FREQUENCY_HZ : NOMINAL_FREQUENCY_HZ + FREQUENCY_NOISE_HZ * symmetric(random);
    for (const feeder of this.feeders) feeder.redraw(random);
    this.encode();
  }

  /** Re-encodes every feeder into the register image. */
  encode(): void {
    this.feeders.forEach((feeder, f) => this.encodeFeeder(f, feeder));
  }

  encodeFeeder(f: number, feeder: FeederModel): void {
    const base = f * REGISTERS_PER_FEEDER;
    const r = feeder.readings(this.busVoltageKv, this.busFrequencyHz);
    const regs = this.registers;
    regs[base + FEEDER_REGISTER.breaker] = feeder.breakerClosed ? 1 : 0;
    regs[base + FEEDER_REGISTER.voltage] = toUint16(r.voltageKv * 100);
    regs[base + FEEDER_REGISTER.current] = toUint16(r.currentA * 10);
    regs[base + FEEDER_REGISTER.activePower] = toInt16(r.activePowerKw);
    regs[base + FEEDER_REGISTER.reactivePower] = toInt16(r.reactivePowerKvar);
    regs[base + FEEDER_REGISTER.frequency] = toUint16(r.frequencyHz * 100);
  }
}

/** Rounds and clamps to an unsigned 16-bit register. */
export function toUint16(value: number): number {
  return Math.min(0xffff, Math.max(0, Math.round(value)));
}

/** Rounds and clamps to a signed 16-bit value, stored as its two's-complement register. */
export function toInt16(value: number): number {
  return Math.min(0x7fff, Math.max(-0x8000, Math.round(value))) & 0xffff;
}

/** Reads a register as int16. */
export function fromInt16(register: number): number {
  return register >= 0x8000 ? register - 0x10000 : register;
}

/** Decodes one feeder's block (REGISTERS_PER_FEEDER registers from `offset`) to engineering units. */
export function decodeFeeder(registers: ArrayLike<number>, offset = 0): FeederReadings & { readonly breakerClosed: boolean } {
  const at = (i: number): number => registers[offset + i] ?? 0;
  return {
    breakerClosed: at(FEEDER_REGISTER.breaker) === 1,
    voltageKv: at(FEEDER_REGISTER.voltage) / 100,
    currentA: at(FEEDER_REGISTER.current) / 10,
    activePowerKw: fromInt16(at(FEEDER_REGISTER.activePower)),
    reactivePowerKvar: fromInt16(at(FEEDER_REGISTER.reactivePower)),
    frequencyHz: at(FEEDER_REGISTER.frequency) / 100,
  };
}
