import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Debian's Python with torch and onnx (the toolkit's; .ci/apt-packages.txt). */
export const PYTHON = process.env.KIBITZ_PYTHON ?? '/usr/bin/python3';

export interface TinyVideoLlm {
  /** The three folders in the public layout (base Llama-3, LoRA adapter, SigLIP) under one parent. */
  checkpoint: string;
  /** The kibitz package imported from it. */
  pkg: string;
}

/** Runs the model toolkit's CLI; throws with its output when it fails. */
export function toolkit(args: string[], timeoutMs = 300_000): string {
  const r = spawnSync(PYTHON, ['-m', 'kibitz_models.cli', ...args], {
    encoding: 'utf8', env: { ...process.env, PYTHONPATH: 'models' }, timeout: timeoutMs,
  });
  if (r.status !== 0) throw new Error(`kibitz_models.cli ${args[0]} failed (${r.status}):\n${r.stdout}\n${r.stderr}`.slice(-4000));
  return r.stdout;
}

/**
 * A tiny random VideoLLM-online checkpoint in the exact public layout (toolkit `videollm-tiny`),
 * imported through the user's front door (`kibitz import videollm-online`). Real weights cannot be
 * downloaded here; the path from checkpoint to package to engine is what is tested.
 */
export function buildTinyVideoLlm(opts: { routers?: boolean; seed?: number } = {}): TinyVideoLlm {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kibitz-videollm-'));
  const checkpoint = path.join(dir, 'checkpoint');
  const pkg = path.join(dir, 'package');
  toolkit(['videollm-tiny', '--out', checkpoint, '--seed', String(opts.seed ?? 0), ...(opts.routers ? ['--routers'] : [])]);
  const r = spawnSync(process.execPath, ['bin/kibitz.mjs', 'import', 'videollm-online', checkpoint, '--out', pkg], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0 || !existsSync(path.join(pkg, 'manifest.json'))) {
    throw new Error(`kibitz import videollm-online failed (${r.status}):\n${r.stdout}\n${r.stderr}`.slice(-4000));
  }
  return { checkpoint, pkg };
}
