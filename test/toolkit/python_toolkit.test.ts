import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/**
 * The model toolkit's own tests (models/tests, Python unittest with Debian's python3-torch),
 * run as part of `npm test` so CI covers both sides of the ONNX contract. `.ci/run` installs
 * python3-torch, python3-onnx and python3-numpy from apt.
 */
const PYTHON = process.env.KIBITZ_PYTHON ?? '/usr/bin/python3';

describe('model toolkit (Python)', () => {
  it('passes its unittest suite', () => {
    const probe = spawnSync(PYTHON, ['-c', 'import torch, onnx, numpy, PIL'], { encoding: 'utf8' });
    expect(probe.status, `the toolkit needs ${PYTHON} with torch, onnx, numpy and PIL (the python3-* lines of .ci/apt-packages.txt): ${probe.stderr}`).toBe(0);
    const r = spawnSync(PYTHON, ['-m', 'unittest', 'discover', '-s', 'models/tests'], {
      encoding: 'utf8', env: { ...process.env, PYTHONPATH: 'models' }, timeout: 600_000,
    });
    const tail = `${r.stdout}\n${r.stderr}`.slice(-4000);
    expect(r.status, tail).toBe(0);
    expect(tail).toMatch(/\nOK/);
  }, 620_000);
});
