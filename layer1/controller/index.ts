// What other components import from the controller: its wire types.
export * from './types.ts';
