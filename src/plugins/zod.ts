// The config value helpers (numbers, booleans and lists that also come from env strings) have one
// owner, src/config/values.ts; plugins get them through the SDK.
export { bool, list, num } from '../config/values.ts';
