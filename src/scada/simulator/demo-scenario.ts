import type { Logger } from 'pino';
import type { SubstationSimulator } from './substation-simulator.js';

export interface DemoScenarioOptions {
  /** One cycle: overload and recovery, then a trip and its reclosing. */
  readonly periodMs: number;
  /** 0-based feeders of unit 1 (the caller keeps them inside the simulator's feeders). */
  readonly overloadFeeder: number;
  readonly tripFeeder: number;
  readonly logger?: Logger;
}

/** Currents of the scenario, A: the generated points alarm at high 600 A and high-high 700 A (simulator-devices.ts). */
const RISING_A = 560;
const OVERLOAD_A = 640;
const SURGE_A = 760;

type Step = 'rising' | 'overload' | 'recovered' | 'surge' | 'trip' | 'reclose';

/** When each step happens, as a fraction of the period from the start of a cycle. */
const STEPS: ReadonlyArray<readonly [number, Step]> = [
  [0.05, 'rising'],
  [0.1, 'overload'],
  [0.35, 'recovered'],
  [0.5, 'surge'],
  [0.6, 'trip'],
  [0.85, 'reclose'],
];

/**
 * The demo scenario of the built-in simulator (docs/configuration.md "Demo
 * scenario"): so that someone who just ran `npm start` sees what the product
 * does, every period one feeder's current rises past its high limit (an
 * alarm raises) and falls back (it clears), and another feeder's current
 * surges past its high-high limit until its breaker trips on overcurrent
 * (the status changes, the alarm clears as the current drops to 0) and
 * recloses a quarter period later, unless an operator commanded the breaker
 * meanwhile. Alarms wait for someone to acknowledge them. Timers only: it
 * changes the simulator's values, and the acquisition sees them like any
 * other.
 */
export class DemoScenario {
  readonly #sim: SubstationSimulator;
  readonly #options: DemoScenarioOptions;
  #timer: NodeJS.Timeout | null = null;
  #cycleStart = 0;
  #next = 0;
  #cycles = 0;
  /** The breaker the scenario opened, and that it may close again. */
  #tripped = false;
  #stopped = false;

  constructor(sim: SubstationSimulator, options: DemoScenarioOptions) {
    this.#sim = sim;
    this.#options = options;
  }

  /** Completed cycles. */
  get cycles(): number {
    return this.#cycles;
  }

  start(): void {
    if (this.#timer !== null || this.#stopped) return;
    this.#cycleStart = Date.now();
    this.#next = 0;
    this.#options.logger?.info({ event: 'simulator.scenario_started', periodMs: this.#options.periodMs, overloadFeeder: this.#options.overloadFeeder + 1, tripFeeder: this.#options.tripFeeder + 1 }, 'demo scenario running');
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(): void {
    if (this.#stopped) return;
    if (this.#next >= STEPS.length) {
      this.#next = 0;
      this.#cycles += 1;
      this.#cycleStart += this.#options.periodMs;
    }
    const [at] = STEPS[this.#next]!;
    const delay = Math.max(0, this.#cycleStart + at * this.#options.periodMs - Date.now());
    this.#timer = setTimeout(() => {
      const [, step] = STEPS[this.#next]!;
      this.#next += 1;
      this.#run(step);
      this.#schedule();
    }, delay);
    this.#timer.unref();
  }

  #run(step: Step): void {
    const sim = this.#sim;
    const { overloadFeeder, tripFeeder } = this.#options;
    switch (step) {
      case 'rising':
        sim.freeze(1, overloadFeeder, { currentA: RISING_A });
        break;
      case 'overload':
        sim.freeze(1, overloadFeeder, { currentA: OVERLOAD_A });
        break;
      case 'recovered':
        sim.unfreeze(1, overloadFeeder);
        break;
      case 'surge':
        sim.freeze(1, tripFeeder, { currentA: SURGE_A });
        break;
      case 'trip':
        // Only a closed breaker trips (one an operator opened carries no current); its load is normal when it closes again.
        this.#tripped = sim.breaker(1, tripFeeder);
        sim.unfreeze(1, tripFeeder);
        if (this.#tripped) sim.trip(1, tripFeeder);
        break;
      case 'reclose':
        // Not if an operator commanded the breaker since the trip (the command coil no longer says close), or closed it already.
        if (this.#tripped && !sim.breaker(1, tripFeeder) && sim.breakerCommand(1, tripFeeder)) sim.setBreaker(1, tripFeeder, true);
        this.#tripped = false;
        break;
    }
    this.#options.logger?.info({ event: 'simulator.scenario', step, feeder: (step === 'rising' || step === 'overload' || step === 'recovered' ? overloadFeeder : tripFeeder) + 1 }, `demo scenario: ${step}`);
  }
}
