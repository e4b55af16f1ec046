export { registerWhip, WHIP_RESOURCE_PREFIX, type RegisterWhipOptions } from './endpoints.ts';
export { WhipIngest, WHIP_DECODER_INPUT_ARGS, type WhipResourceInfo } from './ingest.ts';
export { whipConfigSchema, parseWhipConfig, DEFAULT_WHIP_CONFIG, type WhipConfig } from '../../config/whip.ts';
export { WhipError, WHIP_ERROR_HTTP, type WhipErrorCode } from './errors.ts';
