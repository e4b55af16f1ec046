// The config value helpers (numbers, booleans and lists that also come from env strings) have one
// owner, src/config_values.ts (beside the config, below it and the plugins alike); plugins get them through the SDK.
export { bool, list, num } from '../config_values.ts';
