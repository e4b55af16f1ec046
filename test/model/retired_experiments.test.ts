import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModelPackage, ModelPackageError } from '../../src/model/manifest.ts';

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** The bundled demo package with its manifest changed by `edit`. */
function demoWith(edit: (m: Record<string, any>) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'kibitz-retired-'));
  made.push(dir);
  cpSync('models/kibitz-demo', dir, { recursive: true });
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, any>;
  edit(m);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
  return dir;
}

/**
 * The stream clock, line stamps and pre-RoPE past keys were experiments no shipped package uses;
 * the runtime no longer carries them, and a package that needs one is refused with a line that
 * says what to do, never loaded without it.
 */
describe('packages that need a retired experiment are refused clearly', () => {
  it('a clock or a stamp block', () => {
    const clock = demoWith((m) => (m.clock = { file: 'clock.bin', digits: 4, unit: 'second' }));
    expect(() => loadModelPackage(clock)).toThrow(ModelPackageError);
    expect(() => loadModelPackage(clock)).toThrow(/manifest\.json: clock: the stream clock was an experiment that this runtime no longer reads/);
    const stamp = demoWith((m) => (m.stamp = { text: 'at {seconds} seconds', unit: 'second' }));
    expect(() => loadModelPackage(stamp)).toThrow(/manifest\.json: stamp: line stamps were an experiment that this runtime no longer reads/);
  });

  it('pre-RoPE past keys (no decoder.pastKeys): rewrite it with the toolkit', () => {
    const raw = demoWith((m) => delete m.decoder.pastKeys);
    expect(() => loadModelPackage(raw)).toThrow(/decoder\.pastKeys: decoder\.pastKeys must be "rotated".*regraph --package DIR/);
  });
});
