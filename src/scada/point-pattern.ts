import { checkPattern } from '../bus/topics.js';

/**
 * A point-name filter in the bus's pattern syntax (NATS subjects): `*` is
 * one token, `>` the rest. `sub1.f1.*` is feeder 1's points, `sub1.>` the
 * whole device, `*.*.breaker` every breaker. Empty or absent means all.
 */
export function pointMatcher(pattern: string | undefined): (name: string) => boolean {
  if (pattern === undefined || pattern === '' || pattern === '>') return () => true;
  const want = checkPattern(pattern);
  return (name) => {
    const have = name.split('.');
    for (let i = 0; i < want.length; i += 1) {
      const token = want[i];
      if (token === '>') return have.length > i;
      if (i >= have.length) return false;
      if (token !== '*' && token !== have[i]) return false;
    }
    return have.length === want.length;
  };
}
