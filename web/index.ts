// What the controller imports from the dashboard: the middleware factory and its options.
export { createDashboard, type DashboardOptions } from './app.ts';
