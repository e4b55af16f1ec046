import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { engines?: { node?: string } }> };

/**
 * package.json's engines.node is true for every locked dependency: each Node version kibitz says
 * it runs on is one every dependency declares, so `npm install` prints no EBADENGINE there (werift
 * 0.25 and cookie 2 declared Node >= 22 under a ">=20" floor; werift stays on 0.24 and
 * light-my-request gets cookie 1, which both declare older Nodes).
 */
describe('the Node floor', () => {
  it('is covered by every dependency\'s engines field, and this Node is on it', () => {
    const floor = pkg.engines.node;
    const outside = Object.entries(lock.packages)
      .filter(([name, p]) => name !== '' && p.engines?.node && !semver.subset(floor, p.engines.node))
      .map(([name, p]) => `${name.replace(/^node_modules\//, '')} wants ${p.engines!.node}`);
    expect(outside).toEqual([]);
    expect(semver.satisfies(process.version, floor)).toBe(true);
  });
});
