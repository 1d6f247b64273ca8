// The router's public face: the contract between its halves (types.ts) and its defaults.
// `slipway up` starts it through server.ts (startRouter); nothing else imports its internals.
export * from './types.ts';
export { DEFAULT_ADMIN_PORT, DEFAULT_DOMAIN, DEFAULT_HTTP_PORT, DEFAULT_HTTPS_PORT, type RunningRouter, type StartRouterOptions } from './server.ts';
