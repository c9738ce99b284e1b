/**
 * Who holds which nickname in which room when several gridlink nodes share
 * the chat (docs/cluster.md, "Chat rooms across nodes"). A single process
 * needs none: {@link ChatRooms} keeps its members itself. The cluster's
 * registry (src/cluster/cluster-nicks.ts) keeps them in a NATS KV bucket.
 */
export interface NickRegistry {
  /**
   * Takes `nick` in `room` for this node, or throws GL_ERR_CHAT_NICK_TAKEN
   * (held anywhere in the cluster) or GL_ERR_CLUSTER_UNAVAILABLE (the
   * registry cannot be asked now: uniqueness cannot be promised).
   */
  claim(room: string, nick: string): Promise<void>;
  /** Gives the nickname back (the member left); never throws, retried until it lands. */
  release(room: string, nick: string): void;
  /** Is `nick` in `room` on any node? */
  has(room: string, nick: string): boolean;
  /** The room's nicknames on every node, sorted. */
  members(room: string): string[];
  /** Every room with members anywhere, and how many. */
  rooms(): Record<string, number>;
  /**
   * Calls `listener` for a member of another node that left without saying
   * so (its node died): the rooms announce that it left. Each such member
   * is reported by exactly one node of the cluster.
   */
  onLost(listener: (room: string, nick: string) => void): void;
}
