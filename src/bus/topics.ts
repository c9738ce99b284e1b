import { GridlinkError } from '../errors/index.js';

const TOKEN = /^[A-Za-z0-9_\-:@+=]+$/u;
const MAX_TOPIC = 256;

/** Checks a topic to publish on: dot-separated, non-empty tokens, no wildcards. */
export function checkTopic(topic: string): string[] {
  const tokens = split(topic);
  for (const token of tokens) {
    if (!TOKEN.test(token)) throw new GridlinkError('GL_ERR_BUS_BAD_TOPIC', `${JSON.stringify(topic.slice(0, 80))}: token ${JSON.stringify(token.slice(0, 40))}`);
  }
  return tokens;
}

/** Checks a subscription pattern: tokens, `*` for one token, `>` for the rest (last only). */
export function checkPattern(pattern: string): string[] {
  const tokens = split(pattern);
  tokens.forEach((token, i) => {
    if (token === '*') return;
    if (token === '>' && i === tokens.length - 1) return;
    if (!TOKEN.test(token)) throw new GridlinkError('GL_ERR_BUS_BAD_TOPIC', `${JSON.stringify(pattern.slice(0, 80))}: token ${JSON.stringify(token.slice(0, 40))}`);
  });
  return tokens;
}

function split(text: string): string[] {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_TOPIC) {
    throw new GridlinkError('GL_ERR_BUS_BAD_TOPIC', `a topic is 1..${MAX_TOPIC} characters`);
  }
  return text.split('.');
}
