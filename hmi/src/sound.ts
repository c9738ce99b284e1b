/**
 * The audible alarm: while an alarm is unacknowledged, a two-tone chime
 * every two seconds (WebAudio, no sound file), until the operator silences
 * it (until the next new alarm) or acknowledges every alarm. Browsers let a
 * page make sound only after a click or key on it, so the first one unlocks
 * the sound; until then the button says the sound is held back.
 */

import { setText } from './dom.js';
import { t } from './i18n.js';

const PERIOD_MS = 2_000;

export type SoundState = 'idle' | 'alarm' | 'silenced' | 'blocked';

export class AlarmSound {
  readonly #button: HTMLButtonElement;
  #context: AudioContext | null = null;
  #unacked = new Set<number>();
  /** The alarms the operator silenced; a new one sounds again. */
  #silenced = new Set<number>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #chimes = 0;

  constructor(button: HTMLButtonElement) {
    this.#button = button;
    button.addEventListener('click', () => this.toggle());
    const unlock = (): void => {
      this.#unlock();
    };
    document.addEventListener('pointerdown', unlock, { capture: true });
    document.addEventListener('keydown', unlock, { capture: true });
    this.#render();
  }

  get state(): SoundState {
    if (this.#unacked.size === 0) return 'idle';
    if ([...this.#unacked].every((id) => this.#silenced.has(id))) return 'silenced';
    return this.#context?.state === 'running' ? 'alarm' : 'blocked';
  }

  /** The alarms now unacknowledged. */
  update(ids: readonly number[]): void {
    this.#unacked = new Set(ids);
    // Forget silenced alarms that were acknowledged: only the ones still open stay quiet.
    for (const id of this.#silenced) if (!this.#unacked.has(id)) this.#silenced.delete(id);
    this.#sync();
  }

  /** Silences what sounds now, or sounds again what was silenced. */
  toggle(): void {
    this.#unlock();
    if (this.state === 'silenced') this.#silenced.clear();
    else for (const id of this.#unacked) this.#silenced.add(id);
    this.#sync();
  }

  relabel(): void {
    this.#render();
  }

  #unlock(): void {
    if (this.#context === null) {
      try {
        this.#context = new AudioContext();
        this.#context.addEventListener('statechange', () => this.#sync());
      } catch {
        return; // no audio on this machine: the blinking stays
      }
    }
    if (this.#context.state === 'suspended') void this.#context.resume().then(() => this.#sync());
  }

  #sync(): void {
    const sounding = this.state === 'alarm';
    if (sounding && this.#timer === null) {
      this.#chime();
      this.#timer = setInterval(() => this.#chime(), PERIOD_MS);
    } else if (!sounding && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
    this.#render();
  }

  #chime(): void {
    const context = this.#context;
    if (context === null || context.state !== 'running') return;
    const start = context.currentTime + 0.01;
    for (const [i, frequency] of [880, 660].entries()) {
      const oscillator = context.createOscillator();
      const gain = context.createGain();
      oscillator.type = 'sine';
      oscillator.frequency.value = frequency;
      const at = start + i * 0.22;
      gain.gain.setValueAtTime(0, at);
      gain.gain.linearRampToValueAtTime(0.25, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.001, at + 0.2);
      oscillator.connect(gain).connect(context.destination);
      oscillator.start(at);
      oscillator.stop(at + 0.21);
    }
    this.#chimes += 1;
    this.#button.dataset['chimes'] = String(this.#chimes);
  }

  #render(): void {
    const state = this.state;
    this.#button.dataset['state'] = state;
    this.#button.setAttribute('aria-pressed', String(state === 'silenced'));
    this.#button.title = t(`sound.${state}`);
    this.#button.setAttribute('aria-label', t(`sound.${state}`));
    setText(this.#button, state === 'silenced' ? '♪ ×' : state === 'alarm' ? `♪ ${t('sound.silence')}` : '♪');
    this.#button.disabled = state === 'idle';
  }
}
