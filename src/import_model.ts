import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './config/load.ts';

/** The model families `kibitz import` understands, and the toolkit command that imports each. */
const FAMILIES: Record<string, string> = { 'videollm-online': 'import-videollm' };

export class ImportUsageError extends Error {}

/**
 * `kibitz import FAMILY CHECKPOINT --out DIR [...]`: a front door to the Python toolkit, which does
 * the work (merging the LoRA and exporting ONNX graphs is PyTorch's job, and the same toolkit
 * exports the bundled packages). Options after the family go to the toolkit unchanged. Resolves to
 * the toolkit's exit code (2: a folder it does not understand, with one line naming file and key).
 */
export async function importModel(args: string[], signal?: AbortSignal): Promise<number> {
  const [family, ...rest] = args;
  const command = family ? FAMILIES[family] : undefined;
  if (!command) throw new ImportUsageError(`import needs a model family: ${Object.keys(FAMILIES).join(', ')} (got ${family ? `"${family}"` : 'none'})`);
  if (rest.length === 0 || rest[0]!.startsWith('-')) throw new ImportUsageError(`import ${family} needs the checkpoint folder first, then --out DIR`);
  const python = process.env['KIBITZ_PYTHON'] ?? '/usr/bin/python3';
  if (!existsSync(python)) {
    throw new ImportUsageError(`the model toolkit needs Python with torch and onnx at ${python} (Debian: apt-get install python3-torch python3-onnx python3-numpy; or set KIBITZ_PYTHON)`);
  }
  const child = spawn(python, ['-m', 'kibitz_models.cli', command, ...rest], {
    cwd: process.cwd(), stdio: 'inherit', signal,
    env: { ...process.env, PYTHONPATH: [path.join(PROJECT_ROOT, 'models'), process.env['PYTHONPATH']].filter(Boolean).join(path.delimiter) },
  });
  return new Promise<number>((resolve) => {
    child.on('error', () => resolve(1));
    child.on('close', (code) => resolve(code ?? 1));
  });
}
