// Preloaded with `node --import`: records the URL of every module the process resolves, one a
// line, in the file named by KIBITZ_MODULE_LOG. Lets a test ask which libraries a command loaded.
import { register } from 'node:module';

register('./record_modules_hooks.mjs', import.meta.url, { data: { file: process.env.KIBITZ_MODULE_LOG } });
