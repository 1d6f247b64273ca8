// The agent's public face for other components: the typed client and the types (the server
// is started only by the composition root, layer1/cli/compose/agent.ts).
export * from './types.ts';
export { connectAgent, type AgentClient } from './client.ts';
