export * from './errors.ts';
export * from './ids.ts';
export * from './logger.ts';
export * from './paths.ts';
export * from './time.ts';
export * from './which.ts';
export * from './settings.ts';
