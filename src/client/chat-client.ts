import type { ChatEvent, ReplyOf } from '../protocol/v1.js';
import type { NativeChannel } from './native-channel.js';

/**
 * Chat (docs/protocol.md §3.4): rooms, messages, private messages. Room
 * events reach the listener given at `join` as the server pushes them.
 */
export class ChatClient {
  readonly #channel: NativeChannel;

  constructor(channel: NativeChannel) {
    this.#channel = channel;
  }

  /**
   * Joins `room` as `nick`. Every listener given to a join of this
   * connection sees the events of every room it is in (each carries `room`).
   */
  join(room: string, nick: string, onEvent: (event: ChatEvent) => void): Promise<ReplyOf<'chat.join'>> {
    this.#channel.onPush('chat.event', onEvent);
    return this.#channel.request('chat.join', { room, nick });
  }

  async say(room: string, text: string): Promise<void> {
    await this.#channel.request('chat.say', { room, text });
  }

  /** A private message to one member of the room. */
  async whisper(room: string, to: string, text: string): Promise<void> {
    await this.#channel.request('chat.msg', { room, to, text });
  }

  async who(room: string): Promise<string[]> {
    return (await this.#channel.request('chat.who', { room })).members;
  }

  async leave(room: string): Promise<void> {
    await this.#channel.request('chat.leave', { room });
  }
}
